"""Reading legacy values: lenient converters, and the import's bookkeeping types."""

import ipaddress
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from django.db import models

from ..reader import parse_datetime
from .schema import EXAMPLES_KEPT, ID_NAMESPACE


class Invalid(Exception):
    """A document we cannot import; `code` is counted, `detail` shown."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass
class Item:
    """A mapped document: a new row to create, or an existing row it matched."""

    line: int
    legacy_id: str
    obj: models.Model | None = None
    matched: models.Model | None = None
    extra: dict = field(default_factory=dict)
    previous: dict = field(default_factory=dict)
    after_save: Callable[[models.Model], None] | None = None


@dataclass
class Stats:
    total: int = 0
    already: int = 0
    created: int = 0
    matched: int = 0
    invalid: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)

    def reject(self, line: int, legacy_id: str, code: str, detail: str = "") -> None:
        self.invalid += 1
        self.reasons[code] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append({"line": line, "id": legacy_id, "reason": detail or code})

    def as_dict(self, audit: bool) -> dict:
        data = {
            "total": self.total,
            "already_imported": self.already,
            "invalid": self.invalid,
            "reasons": dict(self.reasons),
            "examples": self.examples,
        }
        if audit:
            data["to_import"] = self.created + self.matched
        else:
            data["created"] = self.created
            data["matched"] = self.matched
        return data


def in_chunks(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def legacy_uuid(collection: str, value) -> uuid.UUID:
    """The legacy UUID itself, or a stable UUID derived from an ObjectId."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return uuid.uuid5(ID_NAMESPACE, f"{collection}:{value}")


def as_text(value) -> str:
    if value is None:
        return ""
    return str(value).strip()


def as_bool(value, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "oui", "on")
    return bool(value)


def as_int(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def as_ip(value) -> str | None:
    try:
        return str(ipaddress.ip_address(as_text(value))) if value else None
    except ValueError:
        return None


def doc_date(doc: dict, key: str, required: bool = False) -> datetime | None:
    try:
        value = parse_datetime(doc.get(key))
    except (ValueError, TypeError, OverflowError) as exc:
        raise Invalid("BAD_DATE", f"{key}: {doc.get(key)!r}") from exc
    if value is None and required:
        raise Invalid("MISSING_FIELD", f"{key} missing")
    return value


def objectid_time(value) -> datetime | None:
    """A Mongo ObjectId starts with its creation time (4 bytes, seconds)."""
    text = as_text(value)
    if re.fullmatch(r"[0-9a-fA-F]{24}", text):
        return datetime.fromtimestamp(int(text[:8], 16), tz=UTC)
    return None


_MAX_LENGTHS: dict[type, dict[str, int]] = {}


def fit_to_columns(model: type[models.Model], values: dict) -> dict:
    """Cut strings to their column's length: PostgreSQL refuses longer ones."""
    limits = _MAX_LENGTHS.get(model)
    if limits is None:
        limits = _MAX_LENGTHS[model] = {
            f.attname: f.max_length
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField) and f.max_length
        }
    for name, limit in limits.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            values[name] = value[:limit]
    return values
