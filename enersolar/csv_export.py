"""Every CSV the product writes goes through here (leads and every admin list,
departments, statements, the journal, the legacy audit):

- cells are neutralised by OWASP's rule: a text starting with `=`, `+`, `-`,
  `@`, a tab or a carriage return gets a leading apostrophe, so a spreadsheet
  opens it as text, never as a formula (a plain number such as `-12.50` or a
  phone number `+33612345678` is left alone: it cannot be a formula);
- the file is UTF-8 with a byte-order mark, so Excel reads French accents
  right, and is sent as `text/csv; charset=utf-8`;
- it is streamed: rows are written as they are read, in chunks, so a million
  leads are never held in memory.
"""

import csv
import re
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

BOM = "\ufeff"
CONTENT_TYPE = "text/csv; charset=utf-8"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")
CHUNK_CHARS = 64 * 1024


def csv_cell(value):
    """A cell a spreadsheet shows as what it is: text starting like a formula
    gets a leading apostrophe; numbers and other values are left as they are."""
    if value is None:
        return ""
    formula_like = isinstance(value, str) and value.startswith(FORMULA_STARTS)
    if formula_like and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class _Line:
    """csv.writer's file: hands each formatted line back."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable], *, delimiter: str = ",") -> Iterator[str]:
    """The file's text in chunks: the BOM, then each row neutralised."""
    writer = csv.writer(_Line(), delimiter=delimiter)
    chunk = [BOM]
    size = 0
    for row in rows:
        line = writer.writerow([csv_cell(value) for value in row])
        chunk.append(line)
        size += len(line)
        if size >= CHUNK_CHARS:
            yield "".join(chunk)
            chunk, size = [], 0
    if chunk:
        yield "".join(chunk)


def csv_text(rows: Iterable[Iterable], *, delimiter: str = ",") -> str:
    """The whole file as one string (small files: an e-mail attachment, a test)."""
    return "".join(csv_lines(rows, delimiter=delimiter))


def csv_response(
    rows: Iterable[Iterable], *, filename: str, delimiter: str = ","
) -> StreamingHttpResponse:
    """A streamed CSV download of `rows` (header first); iterate lazily."""
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "")
    return StreamingHttpResponse(
        csv_lines(rows, delimiter=delimiter),
        content_type=CONTENT_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{safe_name}"'},
    )
