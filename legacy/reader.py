"""Streaming reader of `mongoexport` output: JSON lines or a JSON array,
MongoDB Extended JSON (canonical or relaxed) decoded to Python values.

Memory stays flat whatever the file size: JSON lines are read one line at a
time; a JSON array goes through ijson's incremental parser. A broken line of
a JSON-lines file is reported and skipped; a JSON array cannot be resynchronised
after a syntax error, so the rest of that file is reported as one error."""

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import ijson

SUFFIXES = (".json", ".jsonl", ".ndjson")
_FRENCH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}:\d{2}(?::\d{2})?))?")


@dataclass(frozen=True)
class RawDoc:
    line: int  # 1-based line (JSON lines) or element number (JSON array)
    doc: dict | None  # None when the line could not be read
    error: str = ""


def _from_millis(value) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def parse_datetime(value) -> datetime | None:
    """ISO strings (naive = UTC, as the legacy system wrote them), Unix
    seconds or milliseconds, or an already decoded datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float | Decimal):
        seconds = float(value)
        return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, tz=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_datetime(int(text))
        french = _FRENCH_DATE.fullmatch(text)
        if french:
            # 09/02/2026 or 09/02/2026 10:30[:00], as staff typed dates.
            day, month, year, rest = french.groups()
            text = f"{year}-{month:0>2}-{day:0>2}" + (f"T{rest}" if rest else "")
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a date: {value!r}")


def _extended(obj: dict):
    """One Extended JSON wrapper, or the dict unchanged."""
    if len(obj) == 1 or (len(obj) == 2 and "$binary" in obj):
        key = next(iter(obj))
        value = obj[key]
        if key == "$oid":
            return str(value)
        if key == "$date":
            if isinstance(value, dict) and "$numberLong" in value:
                return _from_millis(value["$numberLong"])
            if isinstance(value, int | float | Decimal):
                return _from_millis(value)
            return parse_datetime(value)
        if key in ("$numberLong", "$numberInt"):
            return int(value)
        if key == "$numberDouble":
            return float(value)
        if key == "$numberDecimal":
            return Decimal(value)
        if key == "$uuid":
            return str(uuid.UUID(value))
        if key == "$binary" and isinstance(value, dict) and value.get("subType") in ("03", "04"):
            import base64

            return str(uuid.UUID(bytes=base64.b64decode(value["base64"])))
    return obj


def decode(value):
    """Decode Extended JSON recursively (for values built by ijson)."""
    if isinstance(value, dict):
        decoded = _extended(value)
        if decoded is not value:
            return decoded
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def iter_documents(path: Path) -> Iterator[RawDoc]:
    with path.open("rb") as handle:
        first = b""
        while True:
            char = handle.read(1)
            if not char or not char.isspace():
                first = char
                break
        handle.seek(0)
        if first == b"[":
            yield from _iter_array(handle)
        else:
            yield from _iter_lines(handle)


def _iter_lines(handle) -> Iterator[RawDoc]:
    for number, raw in enumerate(handle, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            # object_hook runs innermost first, so nested wrappers decode too.
            doc = json.loads(text, object_hook=_extended)
        except (ValueError, TypeError) as exc:
            yield RawDoc(number, None, f"BROKEN_JSON: {exc}")
            continue
        if not isinstance(doc, dict):
            yield RawDoc(number, None, "NOT_AN_OBJECT")
            continue
        yield RawDoc(number, doc)


def _iter_array(handle) -> Iterator[RawDoc]:
    number = 0
    try:
        for item in ijson.items(handle, "item", use_float=True):
            number += 1
            if not isinstance(item, dict):
                yield RawDoc(number, None, "NOT_AN_OBJECT")
                continue
            try:
                yield RawDoc(number, decode(item))
            except (ValueError, TypeError) as exc:
                yield RawDoc(number, None, f"BROKEN_JSON: {exc}")
    except ijson.JSONError as exc:
        yield RawDoc(number + 1, None, f"BROKEN_JSON: array unreadable from here on ({exc})")


def collection_files(source: Path) -> dict[str, Path]:
    """`leads.json`, `leads.jsonl`, … in a directory, or one file named after
    its collection."""
    if source.is_file():
        return {source.name.split(".")[0]: source}
    found: dict[str, Path] = {}
    for path in sorted(source.iterdir()):
        if path.is_file() and path.suffix in SUFFIXES:
            found.setdefault(path.name.split(".")[0], path)
    return found
