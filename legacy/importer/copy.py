"""Writing the big collections with PostgreSQL's COPY.

`bulk_create` spends most of an import's time building and adapting its
INSERT (a million leads: two thirds of the run). COPY takes the rows as
text: each value is formatted once here, by its column's type, and streamed.
SQLite keeps `bulk_create`.

Rows whose primary key is an identity column (tracking events) get theirs
drawn from the column's sequence first, so the mapping table can point at
them, as bulk_create's RETURNING did.
"""

import json
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from datetime import date
from decimal import Decimal

from django.db import connection, models

# COPY's text format: a backslash, tab, newline or carriage return in a value
# is escaped; NUL cannot be stored in a PostgreSQL text value at all.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})
NULL = "\\N"


_SPECIAL = re.compile(r"[\\\t\n\r\x00]")


def _text(value) -> str:
    if value == "":
        return value  # a blank field: most of a lead's columns
    text = value if type(value) is str else str(value)
    # translate() with a mapping is slow: only for the rare value that needs it.
    return text.translate(_ESCAPES) if _SPECIAL.search(text) else text


def _formatter(field: models.Field) -> Callable:
    """value → its COPY text (None is handled by the caller)."""
    if isinstance(field, models.JSONField):
        encoder = field.encoder

        def as_json(value):
            if not value and type(value) in (dict, list):
                return "{}" if type(value) is dict else "[]"  # most reasons, most records
            return _text(json.dumps(value, cls=encoder, ensure_ascii=False))

        return as_json
    if isinstance(field, models.BooleanField):
        return lambda value: "t" if value else "f"
    if isinstance(field, models.DateTimeField):
        return lambda value: value.isoformat()
    if isinstance(field, models.DateField):
        return lambda value: value.isoformat() if isinstance(value, date) else str(value)
    if isinstance(field, models.ForeignKey):
        return _formatter(field.target_field)
    if isinstance(field, models.UUIDField | models.IntegerField | models.AutoField):
        return str
    if isinstance(field, models.DecimalField):
        return lambda value: str(Decimal(value))
    return _text


class Row(dict):
    """A row to insert, by attribute name (`product_type_id`…): what a mapper
    builds instead of a model instance when nothing but its values is needed
    (a million of them: a model's __init__ costs more than the COPY)."""

    model: type[models.Model]

    def __init__(self, model: type[models.Model], values: dict):
        super().__init__(_defaults(model))
        self.update(values)
        self.model = model

    @property
    def pk(self):
        return self[self.model._meta.pk.attname]

    def instance(self) -> models.Model:
        return self.model(**self)


_DEFAULTS: dict[type, dict] = {}


def _defaults(model: type[models.Model]) -> dict:
    if model not in _DEFAULTS:
        _DEFAULTS[model] = {
            f.attname: None if f.primary_key else f.get_default()
            for f in model._meta.concrete_fields
        }
    return _DEFAULTS[model]


def copy_insert(model: type[models.Model], objs: list) -> None:
    """Insert `objs` (unsaved instances, or Rows) with one COPY. Primary keys
    drawn from an identity sequence are set on the instances."""
    send(*insert_payload(model, objs))
    for obj in objs:
        if not isinstance(obj, Row):
            obj._state.adding, obj._state.db = False, connection.alias


def insert_payload(model: type[models.Model], objs: list) -> tuple[str, bytes]:
    """The COPY statement and its data for `objs` (built without the database
    but for drawing identity ids)."""
    meta = model._meta
    fields = list(meta.concrete_fields)
    if objs and isinstance(objs[0], Row):
        names = [f.attname for f in fields]
        rows = ([obj[name] for name in names] for obj in objs)
    else:
        if objs and isinstance(meta.pk, models.AutoField) and objs[0].pk is None:
            _draw_ids(model, objs)
        rows = ([getattr(obj, f.attname) for f in fields] for obj in objs)
    return _payload(meta.db_table, fields, rows)


def copy_rows(model: type[models.Model], names: list[str], rows: Iterable[list]) -> None:
    """Insert plain rows (lists of values for the fields `names`) with one COPY."""
    send(*rows_payload(model, names, rows))


def rows_payload(model: type[models.Model], names: list[str], rows: Iterable[list]):
    meta = model._meta
    return _payload(meta.db_table, [meta.get_field(name) for name in names], rows)


def _payload(table: str, fields: list, rows: Iterable[list]) -> tuple[str, bytes]:
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"COPY {connection.ops.quote_name(table)} ({columns}) FROM STDIN"
    formats = [_formatter(f) for f in fields]
    lines = [
        "\t".join(
            [
                NULL if value is None else format_(value)
                for value, format_ in zip(row, formats, strict=True)
            ]
        )
        for row in rows
    ]
    return sql, ("\n".join(lines) + "\n").encode() if lines else b""


def send(sql: str, data: bytes) -> None:
    """Run one COPY of prepared data (nothing when there is none)."""
    if not data:
        return
    # The driver's own cursor: its errors are turned into Django's
    # (DatabaseError…), so a refused chunk is retried row by row like any.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        copy.write(data)


def _draw_ids(model: type[models.Model], objs: list[models.Model]) -> None:
    table, column = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, column, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk


@contextmanager
def commits_without_flush(*, enabled: bool):
    """PostgreSQL: this session's commits do not wait for the WAL flush
    (`synchronous_commit = off`), one wait less per chunk. A crash can lose
    the last chunks committed, rows and mapping records together: a re-run
    imports them again (the import is idempotent). Never inside a caller's
    transaction, where the setting would outlive nothing useful."""
    if not (enabled and is_available()) or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def is_available() -> bool:
    return connection.vendor == "postgresql"
