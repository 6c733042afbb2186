"""FastStream subscribers: thin glue from broker messages to the mailer's services."""
