"""The billing core: customers, invoices, payments, credits and schedules, which emit events."""
