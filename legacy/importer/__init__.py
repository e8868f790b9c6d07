"""Import of the legacy MongoDB collections (SPEC §10); see legacy/README.md
for the documented fields of each collection and what they become.

One pass per collection, in dependency order, in chunks: each chunk is read,
checked against the mapping table (one query: which legacy ids are already
imported), mapped, and written in one transaction with its LegacyRecord rows
(COPY on PostgreSQL for the big collections, see copy.py).
The unique (collection, legacy_id) constraint is the backstop if two imports
ever race. A chunk the database refuses is retried row by row, so one bad row
is reported and the others still land.
"""

from .engine import Importer
from .schema import COLLECTIONS, MODELS

__all__ = ["COLLECTIONS", "MODELS", "Importer"]
