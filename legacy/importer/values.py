"""Reading legacy values: lenient converters, and the import's bookkeeping types."""

import ipaddress
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from enersolar.phone import _looks_fake, national_digits, phone_normalize

from ..reader import parse_datetime
from .schema import EXAMPLES_KEPT, ID_NAMESPACE

# Documents listed one by one at most (mini-analyses: one line each).
LISTED_KEPT = 1000


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
    # (code, detail) of what was imported not quite as written.
    notes: list = field(default_factory=list)
    # The pk of the lead of the same person this document is linked to.
    duplicate_of: object = None
    # One line for the listing of the collection (mini-analyses).
    listed: str = ""


@dataclass
class Stats:
    """Counts of one collection. In an audit `created`, `matched` and
    `duplicates` are what the import *would* do (reported as to_create…)."""

    total: int = 0
    already: int = 0
    created: int = 0
    matched: int = 0
    # Linked to an existing lead of the same person (business key), not created.
    duplicates: int = 0
    invalid: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)
    # Imported, but not quite as written (a text cut, a routing entry dropped).
    notes: Counter = field(default_factory=Counter)
    note_examples: list = field(default_factory=list)
    # Documents listed one by one (the mini-analyses: "brand | e-mail").
    listed: list = field(default_factory=list)

    def reject(self, line: int, legacy_id: str, code: str, detail: str = "") -> None:
        self.invalid += 1
        self.reasons[code] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append({"line": line, "id": legacy_id, "reason": detail or code})

    def note(self, line: int, legacy_id: str, code: str, detail: str = "") -> None:
        self.notes[code] += 1
        if len(self.note_examples) < EXAMPLES_KEPT:
            self.note_examples.append({"line": line, "id": legacy_id, "note": detail or code})

    def merge(self, other: "Stats") -> None:
        """Add the counts of a part (a chunk mapped, or written, apart)."""
        for name in ("total", "already", "created", "matched", "duplicates", "invalid"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reasons.update(other.reasons)
        self.notes.update(other.notes)
        self.examples.extend(other.examples[: EXAMPLES_KEPT - len(self.examples)])
        self.note_examples.extend(other.note_examples[: EXAMPLES_KEPT - len(self.note_examples)])
        self.listed.extend(other.listed[: LISTED_KEPT - len(self.listed)])

    def as_dict(self, audit: bool) -> dict:
        data = {
            "total": self.total,
            "already_imported": self.already,
            "invalid": self.invalid,
            "reasons": dict(self.reasons),
            "examples": self.examples,
            "notes": dict(self.notes),
            "note_examples": self.note_examples,
        }
        if audit:
            # Nothing is written: what an import would do, never "created".
            data["to_create"] = self.created
            data["to_link"] = self.matched
            data["to_link_as_duplicate"] = self.duplicates
            data["to_import"] = self.created + self.matched + self.duplicates
        else:
            data["created"] = self.created
            data["matched"] = self.matched
            data["duplicates_linked"] = self.duplicates
        if self.listed:
            data["listed"] = self.listed
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
    text = str(value).strip()
    # NUL cannot be stored in a PostgreSQL text column: dropped everywhere alike.
    return text.replace("\x00", "") if "\x00" in text else text


_MONEY_JUNK = re.compile(r"[\s\u00a0\u202f€]|EUR", re.IGNORECASE)


def as_decimal(value) -> Decimal:
    """A price as people wrote it: 25.5, "25.50", "25,50" (French decimal
    comma), "1 234,50 €", "1.234,50". Raises InvalidOperation otherwise."""
    if isinstance(value, bool) or value is None:
        raise InvalidOperation
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    text = _MONEY_JUNK.sub("", str(value))
    if "," in text and "." in text:
        # The last separator is the decimal one; the other groups thousands.
        thousands = "." if text.rfind(",") > text.rfind(".") else ","
        text = text.replace(thousands, "")
    return Decimal(text.replace(",", "."))


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


_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"{_IPV4_OCTET}(?:\.{_IPV4_OCTET}){{3}}")


def as_ip(value) -> str | None:
    if not value:
        return None
    text = as_text(value)
    if _IPV4.fullmatch(text):
        return text  # already the canonical form ipaddress would give
    try:
        return str(ipaddress.ip_address(text))
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


def fit_to_columns(model: type[models.Model], values: dict, cut: dict | None = None) -> dict:
    """Cut strings to their column's length: PostgreSQL refuses longer ones.
    The whole values of the fields cut go into `cut` (kept in the legacy
    record, and noted in the counts)."""
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
            if cut is not None:
                cut[name] = value
    return values


# Whether phonenumbers finds a French number valid depends on its first five
# national digits only (every FR pattern is a prefix class then \d{n}, and
# the longest prefix class, premium rate 836[0-9][0-9], is five digits): the
# import asks it once per prefix. legacy/tests checks this against
# phone_normalize itself.
_PREFIX_VALID: dict[str, bool] = {}


def phone_normalize_cached(raw: str | None) -> str | None:
    """phone_normalize, with the numbering-plan check cached per prefix: the
    same answer, without phonenumbers' cost for each of a million leads."""
    digits = national_digits(raw)
    if digits is None:
        return None
    prefix = digits[:6]
    valid = _PREFIX_VALID.get(prefix)
    if valid is None:
        # The whole check, fake-number rules included, on this very number.
        normalized = phone_normalize(digits)
        if normalized is None and not _plan_refuses(digits):
            return None  # refused as fake, not for its prefix: decide nothing
        valid = _PREFIX_VALID[prefix] = normalized is not None
        return normalized
    if not valid or _looks_fake(digits):
        return None
    return digits


def _plan_refuses(digits: str) -> bool:
    """Whether the numbering plan (not our fake rules) refuses the number."""
    try:
        parsed = phonenumbers.parse(digits, "FR")
    except phonenumbers.NumberParseException:
        return True  # "00…": an international prefix, never a French number
    return not phonenumbers.is_valid_number_for_region(parsed, "FR")


# A landing page's URL is a link in the admin: a legacy `javascript:` (or any
# non-web) value must never become clickable.
WEB_URL_VALIDATOR = URLValidator(schemes=["http", "https"])


def web_url(value: str) -> str:
    """`value` when it is an http(s) URL Django accepts, else ""."""
    try:
        WEB_URL_VALIDATOR(value)
    except ValidationError:
        return ""
    return value


def first_text(doc: dict, *keys: str) -> str:
    """The first non-empty of several names a field went by."""
    for key in keys:
        value = as_text(doc.get(key))
        if value:
            return value
    return ""
