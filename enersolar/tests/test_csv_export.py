"""Safe exports: every CSV neutralises formula-like cells (OWASP), is UTF-8
with a BOM and `text/csv; charset=utf-8`, and is streamed."""

import csv
import io
import itertools
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from enersolar.csv_export import BOM, csv_cell, csv_response, csv_text
from enersolar.tests.factories import UserFactory
from leads.tests.factories import LeadFactory


@pytest.mark.parametrize(
    "value, expected",
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        # Plain numbers cannot be formulas: amounts, E.164 phone numbers.
        ("-12.50", "-12.50"),
        ("+33612345678", "+33612345678"),
        ("-3,5", "-3,5"),
        # Anything else is left alone.
        ("Dupont", "Dupont"),
        ("Élodie = reine", "Élodie = reine"),
        ("", ""),
        (None, ""),
        (42, 42),
    ],
)
def test_csv_cell_neutralises_what_a_spreadsheet_would_run(value, expected):
    assert csv_cell(value) == expected


def test_the_text_starts_with_a_bom_and_keeps_accents():
    text = csv_text([["ville"], ["Saint-Étienne"]], delimiter=";")

    assert text == BOM + "ville\r\nSaint-Étienne\r\n"
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")


def test_the_response_is_streamed_and_reads_rows_only_as_it_sends():
    consumed = itertools.count()

    def rows():
        yield ["n"]
        for n in range(1_000_000):
            next(consumed)
            yield [n]

    response = csv_response(rows(), filename='a"b.csv')

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ab.csv"'
    first = next(iter(response.streaming_content))
    assert first.startswith(BOM.encode())
    assert next(consumed) < 20_000  # one chunk read, not the million rows


@pytest.mark.django_db
def test_the_admin_lead_export_opens_formulas_as_text(client):
    lead = LeadFactory(
        nom='=HYPERLINK("http://evil.example","x")',
        prenom="+cmd|' /C calc'!A0",
        ville="@SUM(1+1)",
    )
    client.force_login(UserFactory(is_superuser=True))

    response = client.post(
        reverse("admin:leads_lead_export"),
        {
            "format": "0",
            "resource": "0",
            **{f"leadexportresource_{f}": "on" for f in ("id", "nom", "prenom", "ville")},
        },
    )

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    (row,) = csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
    assert row["id"] == str(lead.pk)
    assert row["nom"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["prenom"] == "'+cmd|' /C calc'!A0"
    assert row["ville"] == "'@SUM(1+1)"


# Product code that writes CSV must use enersolar.csv_export: a CSV written
# by hand would skip the neutralisation, the BOM or the streaming.
CSV_WRITERS = re.compile(r"csv\.writer\(|csv\.DictWriter\(|[\"']text/csv")
PRODUCT_APPS = ["enersolar", "tracking", "leads", "routing", "billing", "backoffice", "legacy"]


def test_every_csv_the_product_writes_goes_through_the_helper():
    base = Path(settings.BASE_DIR)
    offenders = [
        str(path.relative_to(base))
        for app in PRODUCT_APPS
        for path in (base / app).rglob("*.py")
        if "tests" not in path.parts
        and path.name != "csv_export.py"
        and CSV_WRITERS.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "write CSV with enersolar.csv_export (csv_response / csv_text)"
