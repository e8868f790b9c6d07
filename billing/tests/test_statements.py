"""Monthly statements (SPEC §6): one per (creditor, debtor) CRM pair and
month, frozen when issued, credit lines for leads returned afterwards; CSV
and PDF exports, the admin pages, the beat task.

The month's leads are really routed and delivered (to a local HTTP server),
on the days the clock is moved to, at the order's price of that day."""

import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
from django.contrib.messages import get_messages

from billing.exports import CSV_HEADER, statement_csv, statement_pdf
from billing.models import LeadReturn, Statement, StatementLine
from billing.services import BillingError, lead_return, statements_issue
from billing.tasks import issue_monthly_statements
from leads.models import Lead
from routing.models import Delivery

from .builders import account_make, crm_make, deliver, lead_make, prepaid_order_make

pytestmark = pytest.mark.django_db

D = Decimal
PARIS = ZoneInfo("Europe/Paris")
MARCH, APRIL = date(2025, 3, 1), date(2025, 4, 1)


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


class Month:
    """March 2025 between CRMs `src` and `buy`, delivered for real."""

    def __init__(self, server, clock):
        self.server, self.clock = server, clock
        self.src = crm_make("src", server=server)
        self.buy = crm_make("buy", server=server)
        self.to_buy = account_make(origin=self.src, routed_to=self.buy)  # buy owes src
        self.to_src = account_make(origin=self.buy, routed_to=self.src)  # src owes buy
        self.own = account_make(origin=self.buy, routed_to=self.buy)  # nobody owes
        self.buy_order = prepaid_order_make(crm=self.buy, budget=None, unit_price=D("25.00"))
        self.src_order = prepaid_order_make(crm=self.src, budget=None, unit_price=D("30.00"))

    def at(self, moment: datetime) -> None:
        self.clock.move_to(moment, tick=False)

    def deliver(self, account, moment: datetime, *, answer: int = 201) -> Lead:
        self.at(moment)
        self.server.status = answer
        lead = lead_make(account=account)
        deliver(lead)
        lead.refresh_from_db()
        return lead

    def price(self, amount: str) -> None:
        """Staff change the buy order's price (admin save)."""
        self.buy_order.unit_price = D(amount)
        self.buy_order.save()

    def play_march(self) -> dict[str, Lead]:
        leads = {}
        leads["L1"] = self.deliver(self.to_buy, paris(2025, 3, 5, 10, 0))
        leads["L2"] = self.deliver(self.to_buy, paris(2025, 3, 5, 11, 0))
        leads["returned"] = self.deliver(self.to_buy, paris(2025, 3, 5, 12, 0))
        self.at(paris(2025, 3, 6, 9, 0))
        lead_return(lead=leads["returned"], reason="injoignable")  # before any statement
        self.at(paris(2025, 3, 12, 9, 0))
        self.price("40.00")
        leads["L3"] = self.deliver(self.to_buy, paris(2025, 3, 20, 10, 0))
        leads["own"] = self.deliver(self.own, paris(2025, 3, 15, 10, 0))
        leads["failed"] = self.deliver(self.to_buy, paris(2025, 3, 16, 10, 0), answer=400)
        leads["M1"] = self.deliver(self.to_src, paris(2025, 3, 29, 10, 0))
        leads["L4"] = self.deliver(self.to_buy, paris(2025, 3, 31, 23, 30))  # last Paris hour
        leads["A1"] = self.deliver(self.to_buy, paris(2025, 4, 1, 0, 30))  # April in Paris
        for lead in leads.values():
            lead.refresh_from_db()
        assert [lead.status for lead in leads.values()] == [
            "success",
            "success",
            "returned",
            "success",
            "success",
            "validation_error",
            "success",
            "success",
            "success",
        ]
        return leads


@pytest.fixture
def month(buyer_server, time_machine):
    return Month(buyer_server, time_machine)


@pytest.fixture
def march(month):
    """March played, and its statements issued on 1 April at 06:00 (Paris)."""
    leads = month.play_march()
    month.at(paris(2025, 4, 1, 6, 0))
    statements = statements_issue(period=MARCH)
    return {"leads": leads, "statements": statements}


def statement_of(creditor, debtor, period=MARCH) -> Statement:
    return Statement.objects.get(period=period, creditor=creditor, debtor=debtor)


def lines_of(statement) -> list[tuple]:
    return [(line.kind, line.lead_id, line.amount) for line in statement.lines.all()]


# --- Issuing -----------------------------------------------------------------------


def test_one_statement_per_pair_with_the_prices_of_that_day(month, march):
    leads = march["leads"]
    assert len(march["statements"]) == 2
    assert Statement.objects.count() == 2

    src_buy = statement_of(month.src, month.buy)
    assert lines_of(src_buy) == [
        ("charge", leads["L1"].pk, D("25.00")),
        ("charge", leads["L2"].pk, D("25.00")),
        ("charge", leads["L3"].pk, D("40.00")),  # after the price change
        ("charge", leads["L4"].pk, D("40.00")),
    ]
    assert (src_buy.lead_count, src_buy.credit_count, src_buy.total) == (4, 0, D("130.00"))
    line = src_buy.lines.get(lead=leads["L4"])
    assert line.delivered_at == paris(2025, 3, 31, 23, 30)
    assert (line.product, line.departement) == ("PV", "75")

    buy_src = statement_of(month.buy, month.src)
    assert lines_of(buy_src) == [("charge", leads["M1"].pk, D("30.00"))]
    assert buy_src.total == D("30.00")

    numbers = [s.number for s in Statement.objects.all()]
    assert len(set(numbers)) == 2
    assert all(re.fullmatch(r"RC-202503-\d{4}", n) for n in numbers)
    assert {s.period for s in march["statements"]} == {MARCH}


def test_leads_that_do_not_owe_anything_are_not_on_a_statement(march):
    leads = march["leads"]
    on_statements = set(StatementLine.objects.values_list("lead", flat=True))
    for name in ("returned", "own", "failed", "A1"):
        assert leads[name].pk not in on_statements, name


def test_a_second_run_creates_nothing(march):
    lines = StatementLine.objects.count()
    assert statements_issue(period=MARCH) == []
    assert statements_issue(period=date(2025, 3, 17)) == []  # any day of the month
    assert Statement.objects.count() == 2
    assert StatementLine.objects.count() == lines


def test_a_month_not_over_cannot_be_issued(month):
    month.at(paris(2025, 3, 31, 23, 59))
    with pytest.raises(BillingError):
        statements_issue(period=MARCH)
    assert not Statement.objects.exists()


def test_a_later_price_change_leaves_issued_statements_alone(month, march):
    statement = statement_of(month.src, month.buy)
    before = (lines_of(statement), statement.total, statement_csv(statement))

    month.at(paris(2025, 4, 2, 9, 0))
    month.price("99.00")
    Delivery.objects.filter(order=month.buy_order).update(unit_price=D("99.00"))
    statements_issue(period=MARCH)

    statement.refresh_from_db()
    assert (lines_of(statement), statement.total, statement_csv(statement)) == before


def test_a_lead_returned_after_its_statement_is_credited_next_month(month, march):
    leads = march["leads"]
    month.at(paris(2025, 4, 2, 15, 0))
    lead_return(lead=leads["M1"], reason="doublon")  # 4 days after delivery
    month.at(paris(2025, 4, 3, 9, 0))
    lead_return(lead=leads["L4"], reason="faux numéro")
    a2 = month.deliver(month.to_buy, paris(2025, 4, 15, 10, 0))

    month.at(paris(2025, 5, 1, 6, 0))
    issued = statements_issue(period=APRIL)

    assert len(issued) == 2
    src_buy = statement_of(month.src, month.buy, APRIL)
    assert lines_of(src_buy) == [
        ("credit", leads["L4"].pk, D("-40.00")),  # ordered by delivery time
        ("charge", leads["A1"].pk, D("40.00")),
        ("charge", a2.pk, D("40.00")),
    ]
    assert (src_buy.lead_count, src_buy.credit_count, src_buy.total) == (2, 1, D("40.00"))
    # A pair with nothing but a credit this month still gets its statement.
    buy_src = statement_of(month.buy, month.src, APRIL)
    assert lines_of(buy_src) == [("credit", leads["M1"].pk, D("-30.00"))]
    assert (buy_src.lead_count, buy_src.credit_count, buy_src.total) == (0, 1, D("-30.00"))
    assert LeadReturn.objects.get(lead=leads["L4"]).credited_on == src_buy
    assert LeadReturn.objects.get(lead=leads["M1"]).credited_on == buy_src
    assert LeadReturn.objects.get(lead=leads["returned"]).credited_on is None
    # March stays as issued.
    assert statement_of(month.src, month.buy).total == D("130.00")
    # Credited once: the next month has nothing more for these leads.
    month.at(paris(2025, 6, 1, 6, 0))
    assert statements_issue(period=date(2025, 5, 1)) == []


# --- Exports -----------------------------------------------------------------------


def test_csv_export(month, march):
    statement = statement_of(month.src, month.buy)
    text = statement_csv(statement)
    assert text.startswith("\ufeff")  # Excel reads the accents as UTF-8
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))

    assert rows[0] == CSV_HEADER
    assert len(rows) == 1 + 4
    l1 = march["leads"]["L1"]
    assert rows[1] == [
        statement.number,
        "2025-03",
        "src",
        "buy",
        "charge",
        str(l1.pk),
        Delivery.objects.get(pk=l1.pk).delivered_at.isoformat(),
        "PV",
        "75",
        "25.00",
    ]
    assert [row[9] for row in rows[1:]] == ["25.00", "25.00", "40.00", "40.00"]
    assert sum(D(row[9]) for row in rows[1:]) == statement.total


def pdf_page(data: bytes):
    return pypdfium2.PdfDocument(data)[0]


def words(text: str) -> str:
    """Text with any run of spaces (thousands separators included) as one space."""
    return " ".join(text.split())


def test_pdf_is_an_a4_page_with_the_number_and_total(month, march):
    statement = statement_of(month.src, month.buy)
    data = statement_pdf(statement)
    assert data.startswith(b"%PDF")

    page = pdf_page(data)
    image = page.render(scale=1).to_pil().convert("L")
    width, height = image.size
    assert abs(width / height - 210 / 297) < 0.01  # A4 portrait
    dark = sum(image.histogram()[:128])
    assert dark > 0.005 * width * height  # text and the table's header, not a blank page

    text = page.get_textpage().get_text_range()
    assert statement.number in text
    assert "total dû : 130,00 €" in words(text)  # French format
    assert "Total 130,00 €" in words(text)
    assert "SRC" in text and "BUY" in text  # the parties
    assert str(march["leads"]["L1"].pk)[:8] in text


def test_pdf_dates_are_paris_days(month, march):
    # A1 was delivered on 1 April at 00:30 in Paris (31 March, 22:30 UTC);
    # April is issued on 1 May at 00:30 in Paris (30 April, 22:30 UTC).
    month.at(paris(2025, 5, 1, 0, 30))
    [statement] = statements_issue(period=APRIL)
    assert lines_of(statement) == [("charge", march["leads"]["A1"].pk, D("40.00"))]

    text = words(pdf_page(statement_pdf(statement)).get_textpage().get_text_range())

    assert "Période : 04/2025 — émis le 01/05/2025" in text
    assert "01/04/2025" in text
    assert "31/03/2025" not in text and "30/04/2025" not in text


def test_pdf_of_a_large_statement_runs_over_several_pages(month):
    month.at(paris(2025, 3, 3, 8, 0))
    for _ in range(60):
        month.deliver(month.to_buy, paris(2025, 3, 3, 8, 0))
    month.at(paris(2025, 4, 1, 6, 0))
    [statement] = statements_issue(period=MARCH)

    document = pypdfium2.PdfDocument(statement_pdf(statement))
    assert len(document) >= 2
    last = document[len(document) - 1].get_textpage().get_text_range()
    assert "Total 1 500,00 €" in words(last)  # 60 × 25 €, on the last page


# --- Admin -------------------------------------------------------------------------

STATEMENTS_ADMIN = "/admin/billing/statement/"


def test_admin_lists_statements_with_their_downloads(admin_client, month, march):
    statement = statement_of(month.src, month.buy)
    page = admin_client.get(STATEMENTS_ADMIN)
    assert page.status_code == 200
    html = page.content.decode()
    assert statement.number in html
    assert f"{STATEMENTS_ADMIN}{statement.pk}/csv/" in html
    assert f"{STATEMENTS_ADMIN}{statement.pk}/pdf/" in html
    assert f"{STATEMENTS_ADMIN}issue/" in html  # the issue button

    detail = admin_client.get(f"{STATEMENTS_ADMIN}{statement.pk}/change/")
    assert detail.status_code == 200
    assert str(march["leads"]["L4"].pk) in detail.content.decode()


def test_admin_csv_download(admin_client, month, march):
    statement = statement_of(month.src, month.buy)
    response = admin_client.get(f"{STATEMENTS_ADMIN}{statement.pk}/csv/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{statement.number}.csv"'
    assert b"".join(response.streaming_content).decode() == statement_csv(statement)


def test_admin_pdf_download(admin_client, month, march):
    statement = statement_of(month.src, month.buy)
    response = admin_client.get(f"{STATEMENTS_ADMIN}{statement.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert statement.number in response["Content-Disposition"]
    assert statement.number in pdf_page(response.content).get_textpage().get_text_range()


def test_admin_billing_overview(admin_client, month, march):
    month.at(paris(2025, 4, 2, 9, 0))
    page = admin_client.get(f"{STATEMENTS_ADMIN}overview/")
    assert page.status_code == 200
    html = page.content.decode()
    summary = page.context["summary"]
    # Over the last 30 days: src sold L1, L2, L3, L4, A1 to buy; buy sold M1.
    crm = {b.slug: b for b in summary.crms}
    assert (crm["src"].receivable, crm["src"].payable) == (D("170.00"), D("30.00"))
    assert (crm["buy"].receivable, crm["buy"].payable) == (D("30.00"), D("170.00"))
    assert statement_of(month.src, month.buy).number in html
    assert "170.00" in html or "170,00" in html

    for days in ("7", "90"):
        assert admin_client.get(f"{STATEMENTS_ADMIN}overview/", {"days": days}).status_code == 200


def test_admin_overview_lists_prepaid_budgets(admin_client, month):
    order = prepaid_order_make(crm=month.buy, budget=D("100.00"), unit_price=D("20.00"))
    page = admin_client.get(f"{STATEMENTS_ADMIN}overview/")
    assert page.status_code == 200
    assert (order, "healthy", "sain") in page.context["budgets"]


def test_billing_admin_is_closed_to_editors_and_viewers(editor_client, viewer_client, month, march):
    statement = statement_of(month.src, month.buy)
    for client in (editor_client, viewer_client):
        assert client.get(STATEMENTS_ADMIN).status_code == 403
        assert client.get(f"{STATEMENTS_ADMIN}{statement.pk}/change/").status_code == 403


def test_issue_from_the_admin_button(admin_client, month):
    month.play_march()
    month.at(paris(2025, 4, 1, 9, 0))

    assert admin_client.get(f"{STATEMENTS_ADMIN}issue/").status_code == 405
    response = admin_client.post(f"{STATEMENTS_ADMIN}issue/")

    assert response.status_code == 302
    assert response["Location"] == STATEMENTS_ADMIN
    assert set(Statement.objects.values_list("period", flat=True)) == {MARCH}
    assert Statement.objects.count() == 2
    assert any("03/2025" in str(m) for m in get_messages(response.wsgi_request))

    admin_client.post(f"{STATEMENTS_ADMIN}issue/")  # twice: nothing more
    assert Statement.objects.count() == 2


def test_editors_cannot_issue(editor_client, month):
    month.play_march()
    month.at(paris(2025, 4, 1, 9, 0))
    editor_client.post(f"{STATEMENTS_ADMIN}issue/")
    assert not Statement.objects.exists()


# --- Beat ----------------------------------------------------------------------------


def test_the_beat_task_issues_last_months_statements(month):
    from enersolar import celery_app

    entry = celery_app.conf.beat_schedule["issue-monthly-statements"]  # what beat runs
    assert entry["task"] == "billing.tasks.issue_monthly_statements"
    schedule = entry["schedule"]
    assert (schedule.day_of_month, schedule.hour, schedule.minute) == ({1}, {4}, {0})

    month.play_march()
    month.at(datetime(2025, 4, 1, 4, 0, tzinfo=UTC))  # the beat's time (UTC)

    assert issue_monthly_statements() == 2
    assert set(Statement.objects.values_list("period", flat=True)) == {MARCH}
    assert issue_monthly_statements() == 0
