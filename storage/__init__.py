"""Persistence: SQLModel tables, engine creation, migrations and upserts."""
