"""The run ledger: the SQLite file, its migrations, the single writer, recovery of dead runs.

The schema is a public interface (``schema/migrations/*.sql``); ``store``
opens the file, ``writer`` is the only code that writes it.
"""
from .store import (latest_version, migrate, migrations, open_for_reading, open_for_writing,
                    read_stat_entry, schema_version)

__all__ = ["latest_version", "migrate", "migrations", "open_for_reading", "open_for_writing",
           "read_stat_entry", "schema_version"]
