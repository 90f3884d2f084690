"""The database: the embedded Postgres for development and pool recovery."""
