"""The store: one SQLite file per corpus; every write and every query, and its lock."""
