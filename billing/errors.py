"""The billing core's exception hierarchy; the API maps each branch to one HTTP status.

BillingError
├── NotFound            no such record for this tenant (404)
├── InvalidRequest      the values cannot be used as given (422)
└── Conflict            the record's state forbids the operation now (409)
"""

from __future__ import annotations


class BillingError(Exception):
    """Base of every error the billing core raises on purpose; `message` is shown to users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(BillingError):
    """No such record for this tenant."""


class InvalidRequest(BillingError):
    """The values cannot be used as given (an amount with too many decimals, an empty invoice)."""


class Conflict(BillingError):
    """The record's state forbids the operation (voiding a paid invoice, paying a draft)."""
