"""Keeping PostgreSQL's planner statistics up to date while an import grows a table.

Each chunk looks its documents up by index (`legacy_id IN (…)` in the mapping
table, `phone IN (…)` for the de-duplication by identity). A table the import
filled from (nearly) empty has no statistics yet, or stale ones: autovacuum
analyzes it late, or never when it is off. The planner then takes the mapping
table's `collection = 'leads'` for selective and walks every lead's entry of
the index, or scans all leads for the phones: one chunk's lookups cost more
with every chunk written (1,000,000 leads: most of the import's time).

So the import analyzes the tables it writes each time its own row count in
them has doubled (5,000, 10,000, 20,000… rows): a dozen ANALYZEs for a
million rows, each a sample of at most 30,000 rows. `SKIP_LOCKED`: a table
autovacuum is analyzing at that moment is left to it.
"""

from django.db import connection, models

FIRST_ANALYZE = 5_000


class Statistics:
    def __init__(self):
        # Rows written this run, and the count that triggers the next ANALYZE.
        self._written: dict[str, int] = {}
        self._next: dict[str, int] = {}

    def written(self, model: type[models.Model], rows: int) -> None:
        """Count `rows` written into `model`'s table; analyze it when the
        count has doubled since the last time (PostgreSQL only)."""
        if connection.vendor != "postgresql" or not rows:
            return
        table = model._meta.db_table
        count = self._written[table] = self._written.get(table, 0) + rows
        if count < self._next.get(table, FIRST_ANALYZE):
            return
        self._next[table] = count * 2
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE (SKIP_LOCKED) {connection.ops.quote_name(table)}")
