"""RGPD: retention purge, erasure of one person, consent shown."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils import timezone

from billing.models import Statement, StatementLine
from billing.selectors import cross_crm_summary
from enersolar.models import ActivityLog
from enersolar.tests.factories import CRMFactory, UserFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory
from legacy.rgpd import ANONYMISED, cutoff_for
from routing.models import Delivery
from tracking.models import TrackingEvent
from tracking.tests.factories import VisitorSessionFactory

pytestmark = pytest.mark.django_db

YEARS_AGO_4 = timedelta(days=4 * 365)


def _billed_lead(created_at, **kwargs) -> Lead:
    """A delivered, cross-CRM, billed lead with a session and events."""
    session = VisitorSessionFactory(ip="90.1.2.3", user_agent="Firefox", created_at=created_at)
    TrackingEvent.objects.create(session=session, event_type="lp_visit", ip="90.1.2.3")
    lead = LeadFactory(
        session=session,
        created_at=created_at,
        status=Lead.Status.SUCCESS,
        email="marie.dupont@example.fr",
        ip="90.1.2.3",
        adresse="3 rue de la Paix",
        **kwargs,
    )
    origin, buyer = CRMFactory(), CRMFactory()
    Delivery.objects.create(
        lead=lead,
        origin_crm=origin,
        crm=buyer,
        source=Delivery.Source.CROSS_CRM,
        unit_price=Decimal("31.00"),
        state=Delivery.State.SUCCESS,
        delivered_at=created_at,
    )
    statement = Statement.objects.create(
        number=f"RC-{lead.pk}"[:30],
        period=created_at.date().replace(day=1),
        creditor=origin,
        debtor=buyer,
        lead_count=1,
        total=Decimal("31.00"),
    )
    StatementLine.objects.create(
        statement=statement,
        kind="charge",
        lead=lead,
        delivered_at=created_at,
        product="PV",
        departement=lead.departement,
        amount=Decimal("31.00"),
    )
    return lead


def _aggregates(start, end):
    summary = cross_crm_summary(start, end)
    return {
        "by_status": list(
            Lead.objects.values("status", "departement", "product_type")
            .annotate(n=Count("pk"))
            .order_by("status", "departement", "product_type")
        ),
        "lines": StatementLine.objects.aggregate(total=Sum("amount"), n=Count("pk")),
        "statements": Statement.objects.aggregate(total=Sum("total")),
        "deliveries": Delivery.objects.aggregate(total=Sum("unit_price")),
        "cross_crm": [(b.crm_id, b.receivable, b.payable, b.net) for b in summary.crms],
    }


def test_purge_anonymises_old_leads_and_keeps_billing_and_aggregates():
    now = timezone.now()
    old = _billed_lead(now - YEARS_AGO_4)
    _billed_lead(now - YEARS_AGO_4 - timedelta(days=3), departement="13")
    recent = _billed_lead(now - timedelta(days=30))
    window = (now - YEARS_AGO_4 - timedelta(days=30), now)
    before = _aggregates(*window)

    out = io.StringIO()
    call_command("purge_leads", "--older-than", "3y", stdout=out)

    assert "2 lead(s)" in out.getvalue()
    assert _aggregates(*window) == before
    old.refresh_from_db()
    assert (old.nom, old.prenom, old.email, old.phone, old.phone_raw, old.adresse, old.ip) == (
        ANONYMISED,
        "",
        "",
        "",
        "",
        "",
        None,
    )
    assert (old.status, old.departement, old.product_type_id) == (
        Lead.Status.SUCCESS,
        "75",
        recent.product_type_id,
    )
    assert old.session.ip is None and old.session.user_agent == ""
    assert old.session.events.get().ip is None
    recent.refresh_from_db()
    assert recent.nom == "Dupont" and recent.email == "marie.dupont@example.fr"
    assert recent.session.ip == "90.1.2.3"
    entry = ActivityLog.objects.get(details__action="rgpd_purge")
    assert entry.details["leads"] == 2


def test_purge_dry_run_writes_nothing():
    old = LeadFactory(created_at=timezone.now() - YEARS_AGO_4)
    out = io.StringIO()
    call_command("purge_leads", "--older-than", "36m", "--dry-run", stdout=out)
    assert out.getvalue().startswith("1 lead(s) and 0 session(s) would be anonymised")
    old.refresh_from_db()
    assert old.nom == "Dupont"
    assert not ActivityLog.objects.exists()


def test_purge_twice_changes_nothing_more():
    LeadFactory(created_at=timezone.now() - YEARS_AGO_4)
    call_command("purge_leads", stdout=io.StringIO())
    out = io.StringIO()
    call_command("purge_leads", stdout=out)
    assert out.getvalue().startswith("0 lead(s)")


@pytest.mark.parametrize("bad", ["3", "y", "0d", "3w", ""])
def test_purge_refuses_a_bad_period(bad):
    with pytest.raises(CommandError, match="3y, 18m or 90d"):
        call_command("purge_leads", "--older-than", bad)


def test_periods():
    now = timezone.now().replace(year=2026, month=3, day=31)
    assert cutoff_for("3y", now).date().isoformat() == "2023-03-31"
    assert cutoff_for("1m", now).date().isoformat() == "2026-02-28"
    assert cutoff_for("90d", now) == now - timedelta(days=90)


def test_erase_by_phone_in_any_format_erases_every_lead_of_the_person():
    now = timezone.now()
    first = _billed_lead(now - timedelta(days=200), phone="0612345678")
    second = LeadFactory(phone="0612345678", email="other@example.fr")
    stranger = LeadFactory(phone="0698765432")
    before = StatementLine.objects.aggregate(total=Sum("amount"))

    out = io.StringIO()
    call_command("erase_person", "--phone", "+33 6 12 34 56 78", stdout=out)

    assert out.getvalue().startswith("2 lead(s)")
    for lead in (first, second):
        lead.refresh_from_db()
        assert (lead.nom, lead.phone, lead.email) == (ANONYMISED, "", "")
    assert first.session.ip is None
    stranger.refresh_from_db()
    assert stranger.phone == "0698765432"
    assert StatementLine.objects.aggregate(total=Sum("amount")) == before
    entry = ActivityLog.objects.get(details__action="rgpd_erase")
    assert entry.action == ActivityLog.Action.OTHER
    assert entry.details["by"] == "phone" and entry.details["leads"] == 2
    text = str(entry.details) + entry.object_repr
    assert "0612345678" not in text and "12 34 56 78" not in text


def test_erase_by_email_ignores_case():
    lead = LeadFactory(email="jean.martin@example.fr")
    call_command("erase_person", "--email", "Jean.Martin@Example.FR", stdout=io.StringIO())
    lead.refresh_from_db()
    assert lead.email == "" and lead.nom == ANONYMISED
    assert "example.fr" not in str(ActivityLog.objects.get().details)


def test_erase_needs_a_phone_or_an_email():
    with pytest.raises(CommandError, match="--phone or --email"):
        call_command("erase_person")


def test_admin_action_erases_after_confirmation(client):
    lead = LeadFactory(phone="0612345678", email="a@example.fr")
    twin = LeadFactory(phone="0612345678")
    client.force_login(UserFactory(is_superuser=True))
    url = reverse("admin:leads_lead_changelist")
    data = {"action": "erase_person", "_selected_action": [str(lead.pk)]}

    page = client.post(url, data)
    assert page.status_code == 200 and "confirm" in page.content.decode()
    lead.refresh_from_db()
    assert lead.nom == "Dupont"  # nothing yet

    client.post(url, {**data, "confirm": "yes"})
    for row in (lead, twin):
        row.refresh_from_db()
        assert row.nom == ANONYMISED
    assert ActivityLog.objects.get(details__action="rgpd_erase").details["via"] == "admin"


def test_only_admins_may_erase(client):
    LeadFactory()
    client.force_login(UserFactory(role="Editor"))
    page = client.get(reverse("admin:leads_lead_changelist"))
    assert "erase_person" not in page.content.decode()


def test_consent_is_shown_on_the_lead_page(client):
    lead = LeadFactory(rgpd_consent=True, newsletter=False)
    client.force_login(UserFactory(is_superuser=True))
    page = client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    assert "field-rgpd_consent" in page and "field-newsletter" in page
