"""The message store: SQLAlchemy tables, migrations and the repository used by the service."""
