"""`field = ANY(%s)`: a chunk's lookups by a list of 2,000 values.

`field__in=values` spells out one placeholder per value: for each chunk
Django builds, the driver splits and quotes, and PostgreSQL parses a
statement of 2,000 literals, three times a chunk (a tenth of a
million-lead import's own time). One array parameter is one value to pass.
SQLite keeps IN.
"""

from collections.abc import Iterable

from django.db import connection
from django.db.models import F, Lookup, Q


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def among(field: str, values: Iterable):
    """A filter: `field` is one of `values`."""
    if connection.vendor == "postgresql":
        return AnyOf(F(field), list(values))
    return Q(**{f"{field}__in": list(values)})
