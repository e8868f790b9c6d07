"""Statements as CSV (for accounting) and PDF (to send to the other CRM)."""

import io
from collections.abc import Iterator

from django.utils import formats, timezone, translation
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from enersolar.csv_export import csv_text

from .models import Statement

CSV_HEADER = [
    "statement",
    "period",
    "creditor",
    "debtor",
    "kind",
    "lead_id",
    "delivered_at",
    "product",
    "departement",
    "amount_eur",
]


# French spreadsheets split on semicolons (the comma is the decimal mark).
CSV_DELIMITER = ";"


def statement_csv_rows(statement: Statement) -> Iterator[list]:
    """The header, then one row per line (for enersolar.csv_export)."""
    yield CSV_HEADER
    for line in statement.lines.iterator(chunk_size=2000):
        yield (
            [
                statement.number,
                f"{statement.period:%Y-%m}",
                statement.creditor.slug,
                statement.debtor.slug,
                line.kind,
                line.lead_id,
                line.delivered_at.isoformat(),
                line.product,
                line.departement,
                f"{line.amount:.2f}",
            ]
        )


def statement_csv(statement: Statement) -> str:
    return csv_text(statement_csv_rows(statement), delimiter=CSV_DELIMITER)


def _euros(amount) -> str:
    # The statement is a French document whatever the viewer's language.
    with translation.override("fr"):
        return f"{formats.number_format(amount, 2, use_l10n=True, force_grouping=True)} €"


def statement_pdf(statement: Statement) -> bytes:
    """A one-document statement a person can send: parties, period, totals,
    then every line."""
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"Relevé {statement.number}",
    )
    story = [
        Paragraph(f"Relevé inter-CRM {statement.number}", styles["Title"]),
        Paragraph(
            f"Période : {statement.period:%m/%Y} — émis le "
            f"{timezone.localtime(statement.issued_at):%d/%m/%Y}",
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
        Paragraph(
            f"<b>Créancier</b> (CRM d'origine) : {statement.creditor.name}", styles["Normal"]
        ),
        Paragraph(
            f"<b>Débiteur</b> (CRM destinataire) : {statement.debtor.name}", styles["Normal"]
        ),
        Spacer(1, 4 * mm),
        Paragraph(
            f"Leads facturés : {statement.lead_count} — avoirs : "
            f"{statement.credit_count} — <b>total dû : {_euros(statement.total)}</b>",
            styles["Heading3"],
        ),
        Spacer(1, 4 * mm),
    ]
    rows = [["Date", "Lead", "Produit", "Dépt", "Type", "Montant"]]
    for line in statement.lines.all():
        rows.append(
            [
                # Paris days, as the statement's month is cut.
                f"{timezone.localtime(line.delivered_at):%d/%m/%Y}",
                str(line.lead_id)[:8],
                line.product,
                line.departement,
                "avoir" if line.amount < 0 else "lead",
                _euros(line.amount),
            ]
        )
    rows.append(["", "", "", "", "Total", _euros(statement.total)])
    table = Table(
        rows, repeatRows=1, colWidths=[24 * mm, 30 * mm, 20 * mm, 14 * mm, 20 * mm, 30 * mm]
    )
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f4e79")),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
                ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, colors.HexColor("#f2f6fa")]),
            ]
        )
    )
    story.append(table)
    doc.build(story)
    return buffer.getvalue()
