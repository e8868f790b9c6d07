"""Returns (SPEC §6): a buyer may return a delivered lead within
RETURN_WINDOW_DAYS, with a reason; the lead leaves billing and a prepaid
order gets its price back. By service, API and admin action."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.messages import get_messages

from billing.models import BudgetTransaction, LeadReturn
from billing.services import BillingError, lead_return
from enersolar.models import ActivityLog
from leads.models import Lead

from .builders import account_make, crm_make, deliver, lead_make, prepaid_order_make

pytestmark = pytest.mark.django_db

D = Decimal
DELIVERED = datetime(2025, 5, 12, 9, 30, tzinfo=UTC)
WINDOW = timedelta(days=settings.RETURN_WINDOW_DAYS)
LEADS_ADMIN = "/admin/leads/lead/"


@pytest.fixture
def market(buyer_server, time_machine):
    """A prepaid order of CRM `buy` (100 €, 20 € a lead) for traffic of CRM
    `src`, both answering on the local test server; the clock at DELIVERED."""
    time_machine.move_to(DELIVERED, tick=False)
    src = crm_make("src", server=buyer_server)
    buy = crm_make("buy", server=buyer_server)
    order = prepaid_order_make(crm=buy, budget=D("100.00"), unit_price=D("20.00"))
    return {"account": account_make(origin=src, routed_to=buy), "order": order}


@pytest.fixture
def delivered(market):
    """A lead delivered (and charged) at DELIVERED."""
    lead = lead_make(account=market["account"])
    assert deliver(lead) == "success"
    lead.refresh_from_db()
    return lead


def balance(market) -> Decimal:
    market["order"].refresh_from_db()
    return market["order"].prepaid_balance


def refunds(lead) -> list[BudgetTransaction]:
    return list(BudgetTransaction.objects.filter(lead=lead, kind=BudgetTransaction.Kind.REFUND))


# --- The service -------------------------------------------------------------------


@pytest.mark.parametrize("after", [timedelta(hours=1), WINDOW - timedelta(minutes=1), WINDOW])
def test_a_return_within_the_window_is_recorded_and_refunded(
    market, delivered, admin_user, time_machine, after
):
    assert balance(market) == D("80.00")
    time_machine.move_to(DELIVERED + after, tick=False)

    record = lead_return(lead=delivered, reason="Numéro non attribué", user=admin_user)

    delivered.refresh_from_db()
    assert delivered.status == Lead.Status.RETURNED
    assert LeadReturn.objects.get(lead=delivered) == record
    assert (record.reason, record.returned_by) == ("Numéro non attribué", admin_user)
    assert record.returned_at == DELIVERED + after
    [refund] = refunds(delivered)
    assert (refund.amount, refund.order, refund.created_by) == (
        D("20.00"),
        market["order"],
        admin_user,
    )
    assert balance(market) == D("100.00")
    assert market["order"].prepaid_total == D("100.00")  # a refund is no top-up
    entry = ActivityLog.objects.get(object_id=str(delivered.pk))
    assert (entry.user, entry.object_type) == (admin_user, "leads.lead")
    assert entry.details == {"action": "lead_return", "reason": "Numéro non attribué"}


def test_a_return_after_the_window_is_refused(market, delivered, time_machine):
    time_machine.move_to(DELIVERED + WINDOW + timedelta(seconds=1), tick=False)

    with pytest.raises(BillingError) as refusal:
        lead_return(lead=delivered, reason="trop tard")
    assert refusal.value.code == "return_window_over"

    delivered.refresh_from_db()
    assert delivered.status == Lead.Status.SUCCESS
    assert not LeadReturn.objects.exists()
    assert refunds(delivered) == []
    assert balance(market) == D("80.00")


@pytest.mark.parametrize(
    ("answer", "status"),
    [(400, Lead.Status.VALIDATION_ERROR), (200, Lead.Status.FAILED), (503, Lead.Status.QUEUED)],
)
def test_a_lead_that_was_not_delivered_cannot_be_returned(market, buyer_server, answer, status):
    buyer_server.status = answer
    lead = lead_make(account=market["account"])
    deliver(lead)
    lead.refresh_from_db()
    assert lead.status == status

    with pytest.raises(BillingError) as refusal:
        lead_return(lead=lead, reason="jamais reçu")
    assert refusal.value.code == "return_not_delivered"

    assert not LeadReturn.objects.exists()
    lead.refresh_from_db()
    assert lead.status == status


def test_a_lead_never_routed_cannot_be_returned(market):
    lead = lead_make(account=market["account"])
    with pytest.raises(BillingError):
        lead_return(lead=lead, reason="?")
    assert not LeadReturn.objects.exists()


def test_a_lead_is_returned_once(market, delivered):
    lead_return(lead=delivered, reason="doublon chez nous")
    with pytest.raises(BillingError):
        lead_return(lead=delivered, reason="encore")
    assert LeadReturn.objects.get().reason == "doublon chez nous"
    assert len(refunds(delivered)) == 1
    assert balance(market) == D("100.00")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_return_needs_a_reason(market, delivered, reason):
    with pytest.raises(BillingError) as refusal:
        lead_return(lead=delivered, reason=reason)
    assert refusal.value.code == "return_reason_missing"
    assert not LeadReturn.objects.exists()


def test_a_lead_of_an_order_without_budget_is_returned_without_refund(buyer_server):
    src = crm_make("src", server=buyer_server)
    buy = crm_make("buy", server=buyer_server)
    prepaid_order_make(crm=buy, budget=None, unit_price=D("20.00"))
    lead = lead_make(account=account_make(origin=src, routed_to=buy))
    assert deliver(lead) == "success"

    lead_return(lead=lead, reason="hors zone")

    assert LeadReturn.objects.filter(lead=lead).exists()
    assert not BudgetTransaction.objects.exists()


# --- POST /api/leads/<id>/return -------------------------------------------------------


def url(lead) -> str:
    return f"/api/leads/{lead.pk}/return"


def test_api_returns_a_lead(admin_client, admin_user, market, delivered):
    response = admin_client.post(url(delivered), {"reason": "Faux nom"}, format="json")

    assert response.status_code == 200
    assert response.json() == {"success": True, "code": "lead_returned", "status": "returned"}
    record = LeadReturn.objects.get(lead=delivered)
    assert (record.reason, record.returned_by) == ("Faux nom", admin_user)
    assert balance(market) == D("100.00")


def test_api_refusal_is_a_409_with_the_reason(admin_client, market, delivered, time_machine):
    time_machine.move_to(DELIVERED + WINDOW + timedelta(hours=1), tick=False)

    response = admin_client.post(url(delivered), {"reason": "trop tard"}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert (body["success"], body["code"]) == (False, "return_window_over")
    assert str(settings.RETURN_WINDOW_DAYS) in body["error"]
    assert not LeadReturn.objects.exists()


def test_api_refuses_a_lead_not_delivered_with_409(admin_client, market):
    lead = lead_make(account=market["account"])
    response = admin_client.post(url(lead), {"reason": "jamais reçu"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "return_not_delivered"


@pytest.mark.parametrize("data", [{}, {"reason": ""}, {"reason": "   "}])
def test_api_needs_a_reason(admin_client, market, delivered, data):
    response = admin_client.post(url(delivered), data, format="json")
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert not LeadReturn.objects.exists()


def test_api_unknown_lead_is_a_404(admin_client, db):
    response = admin_client.post(
        "/api/leads/00000000-0000-0000-0000-000000000000/return", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404


def test_api_returns_are_for_billing_staff_only(editor_client, viewer_client, market, delivered):
    for client in (editor_client, viewer_client):
        response = client.post(url(delivered), {"reason": "x"}, format="json")
        assert response.status_code == 403
    assert not LeadReturn.objects.exists()


# --- The admin action ----------------------------------------------------------------


def test_admin_action_asks_for_a_reason_then_returns(admin_client, admin_user, market, delivered):
    selection = {"action": "return_leads", "_selected_action": [str(delivered.pk)]}

    form = admin_client.post(LEADS_ADMIN, selection)
    assert form.status_code == 200
    assert "admin/billing/return_leads.html" in [t.name for t in form.templates]
    assert str(delivered.pk) in form.content.decode()
    assert 'name="reason"' in form.content.decode()
    assert not LeadReturn.objects.exists()  # nothing done before the reason

    done = admin_client.post(LEADS_ADMIN, {**selection, "reason": "Ne répond jamais"})

    assert done.status_code == 302
    record = LeadReturn.objects.get(lead=delivered)
    assert (record.reason, record.returned_by) == ("Ne répond jamais", admin_user)
    delivered.refresh_from_db()
    assert delivered.status == Lead.Status.RETURNED
    assert balance(market) == D("100.00")


def test_admin_action_with_an_empty_reason_shows_the_form_again(admin_client, delivered):
    selection = {"action": "return_leads", "_selected_action": [str(delivered.pk)]}
    response = admin_client.post(LEADS_ADMIN, {**selection, "reason": ""})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not LeadReturn.objects.exists()


def test_admin_action_returns_what_it_may_and_says_what_it_refused(admin_client, market, delivered):
    never_sent = lead_make(account=market["account"])
    selection = {
        "action": "return_leads",
        "_selected_action": [str(delivered.pk), str(never_sent.pk)],
        "reason": "lot refusé",
    }

    response = admin_client.post(LEADS_ADMIN, selection)

    assert response.status_code == 302
    assert list(LeadReturn.objects.values_list("lead", flat=True)) == [delivered.pk]
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(str(never_sent.pk) in text for text in texts)


def test_admin_action_is_not_offered_to_editors(editor_client, delivered):
    page = editor_client.get(LEADS_ADMIN)
    assert page.status_code == 200
    assert 'value="return_leads"' not in page.content.decode()

    editor_client.post(
        LEADS_ADMIN,
        {"action": "return_leads", "_selected_action": [str(delivered.pk)], "reason": "x"},
    )
    assert not LeadReturn.objects.exists()
