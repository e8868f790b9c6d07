"""Prepaid budgets (SPEC §6): a ledger of top-ups and consumptions, levels
and their e-mails, and routing that stops at an empty budget (SPEC §4).

Deliveries are real: `lead_deliver` routes the lead and POSTs it to a small
HTTP server on 127.0.0.1 (see conftest) whose answer each test chooses."""

import contextlib
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from billing.models import BudgetAlert, BudgetTransaction
from billing.selectors import budget_level
from billing.services import BillingError, budget_alerts_check, budget_topup, budgets_consume
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from routing.models import Delivery, Order
from routing.services.batch import leads_deliver_claimed
from routing.services.decide import lead_route
from routing.tests.factories import OrderFactory
from tracking.tests.factories import FormFactory

from .builders import account_make, crm_make, deliver, lead_make, prepaid_order_make

pytestmark = pytest.mark.django_db

D = Decimal
START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def market(buyer_server):
    """Traffic of CRM `src` routed to CRM `buy`, which takes ordered leads only;
    both CRMs answer on the local test server."""
    src = crm_make("src", server=buyer_server)
    buy = crm_make("buy", server=buyer_server)
    return {"src": src, "buy": buy, "account": account_make(origin=src, routed_to=buy)}


def ledger_sum(order: Order) -> Decimal:
    return sum(order.budget_transactions.values_list("amount", flat=True), D("0"))


def consumptions(order: Order) -> list[BudgetTransaction]:
    return list(order.budget_transactions.filter(kind=BudgetTransaction.Kind.CONSUMPTION))


def budget_mails() -> list:
    return [m for m in mail.outbox if "Budget" in m.subject]


# --- The ledger ----------------------------------------------------------------------


def test_a_top_up_writes_one_ledger_row_and_both_sums():
    user = UserFactory()
    order = OrderFactory(unit_price=D("20.00"))
    assert order.prepaid_balance is None  # no prepaid budget until a first top-up

    entry = budget_topup(order=order, amount=D("100.00"), user=user, note="virement 42")

    order.refresh_from_db()
    assert (order.prepaid_balance, order.prepaid_total) == (D("100.00"), D("100.00"))
    assert entry.kind == BudgetTransaction.Kind.TOPUP
    assert (entry.amount, entry.created_by, entry.note) == (D("100.00"), user, "virement 42")
    assert order.budget_transactions.get() == entry

    budget_topup(order=order, amount=D("50.50"))
    order.refresh_from_db()
    assert (order.prepaid_balance, order.prepaid_total) == (D("150.50"), D("150.50"))
    assert order.budget_transactions.count() == 2


@pytest.mark.parametrize("amount", [D("0"), D("-10.00")])
def test_a_top_up_must_be_positive(amount):
    order = OrderFactory()
    with pytest.raises(BillingError):
        budget_topup(order=order, amount=amount)
    order.refresh_from_db()
    assert order.prepaid_balance is None
    assert not order.budget_transactions.exists()


def test_a_successful_delivery_consumes_the_unit_price(market, buyer_server):
    order = prepaid_order_make(crm=market["buy"], budget=D("100.00"), unit_price=D("20.00"))
    lead = lead_make(account=market["account"])

    assert deliver(lead) == "success"

    lead.refresh_from_db()
    delivery = Delivery.objects.get(pk=lead.pk)
    assert lead.status == Lead.Status.SUCCESS
    assert (delivery.state, delivery.order, delivery.unit_price) == ("success", order, D("20"))
    assert len(buyer_server.received) == 1  # really POSTed to the buyer
    [charge] = consumptions(order)
    assert (charge.lead_id, charge.amount) == (lead.pk, D("-20.00"))
    order.refresh_from_db()
    assert (order.prepaid_balance, order.prepaid_total) == (D("80.00"), D("100.00"))
    assert ledger_sum(order) == order.prepaid_balance


@pytest.mark.parametrize(
    ("answer", "outcome", "state"),
    [
        (400, "validation_error", Delivery.State.FAILED),
        (403, "auth_error", Delivery.State.FAILED),
        (500, "transient", Delivery.State.PENDING),  # on the retry ladder
    ],
)
def test_a_delivery_that_did_not_succeed_consumes_nothing(
    market, buyer_server, answer, outcome, state
):
    order = prepaid_order_make(crm=market["buy"], budget=D("100.00"), unit_price=D("20.00"))
    buyer_server.status = answer
    lead = lead_make(account=market["account"])

    assert deliver(lead) == outcome

    assert Delivery.objects.get(pk=lead.pk).state == state
    assert len(buyer_server.received) == 1
    assert consumptions(order) == []
    order.refresh_from_db()
    assert order.prepaid_balance == D("100.00")


def test_a_task_delivering_a_batch_charges_each_of_its_leads_once(market, buyer_server):
    """A queue run's task sends its leads in turn and records their successes
    together: each delivered lead of a prepaid order is charged, once."""
    prepaid = prepaid_order_make(crm=market["buy"], budget=D("100.00"), unit_price=D("20.00"))
    leads = [lead_make(account=market["account"]) for _ in range(3)]
    for lead in leads:
        lead_route(lead=lead)
    claim = timezone.now()
    ids = [lead.pk for lead in leads]
    Delivery.objects.filter(pk__in=ids).update(state=Delivery.State.PROCESSING, claimed_at=claim)

    assert leads_deliver_claimed(lead_ids=ids, claim=claim) == ["success"] * 3
    # The same task delivered again by the broker finds nothing to do.
    assert leads_deliver_claimed(lead_ids=ids, claim=claim) == []

    assert sorted(c.lead_id for c in consumptions(prepaid)) == sorted(ids)
    prepaid.refresh_from_db()
    assert prepaid.prepaid_balance == D("40.00")
    assert ledger_sum(prepaid) == prepaid.prepaid_balance
    assert len(buyer_server.received) == 3


def test_a_lead_is_never_charged_twice(market):
    order = prepaid_order_make(crm=market["buy"], budget=D("100.00"), unit_price=D("20.00"))
    lead = lead_make(account=market["account"])
    assert deliver(lead) == "success"

    # The same task delivered again by the broker, and the hook run again.
    assert deliver(lead) == "not_claimed"
    delivery = Delivery.objects.get(pk=lead.pk)
    assert budgets_consume(deliveries=[delivery]) == []

    assert len(consumptions(order)) == 1
    order.refresh_from_db()
    assert order.prepaid_balance == D("80.00")
    assert ledger_sum(order) == order.prepaid_balance


def test_an_order_without_budget_keeps_no_ledger(market):
    order = prepaid_order_make(crm=market["buy"], budget=None, unit_price=D("20.00"))
    assert deliver(lead_make(account=market["account"])) == "success"
    order.refresh_from_db()
    assert order.prepaid_balance is None
    assert not order.budget_transactions.exists()


# --- Levels ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("balance", "level"),
    [
        ("1000.00", "healthy"),
        ("500.01", "healthy"),  # > 50 %
        ("500.00", "attention"),  # 50 % – 20 %
        ("200.01", "attention"),
        ("200.00", "warning"),  # 20 % – 10 %
        ("100.01", "warning"),
        ("100.00", "critical"),  # 10 % – 0
        ("10.00", "critical"),  # still one lead's worth
        ("9.99", "depleted"),  # not enough for one more lead
        ("0.00", "depleted"),
    ],
)
def test_budget_levels_at_the_spec_thresholds(balance, level):
    order = Order(unit_price=D("10.00"), prepaid_total=D("1000.00"), prepaid_balance=D(balance))
    assert budget_level(order) == level


def test_the_level_follows_the_ledger(market):
    order = prepaid_order_make(crm=market["buy"], budget=D("100.00"), unit_price=D("20.00"))
    levels = [budget_level(order)]
    for _ in range(5):
        deliver(lead_make(account=market["account"]))
        order.refresh_from_db()
        levels.append(budget_level(order))
    # 100 → 80 → 60 → 40 → 20 → 0 of 100 €.
    assert levels == ["healthy", "healthy", "healthy", "attention", "warning", "depleted"]


# --- Alerts ------------------------------------------------------------------------


def test_each_crossing_is_emailed_once_and_a_top_up_resets_the_alerts(
    market, admin_user, time_machine
):
    time_machine.move_to(START, tick=False)
    order = prepaid_order_make(crm=market["buy"], budget=D("1000.00"), unit_price=D("100.00"))

    def deliver_some(n: int) -> None:
        for _ in range(n):
            assert deliver(lead_make(account=market["account"])) == "success"

    def hourly_check() -> list[str]:
        time_machine.shift(timedelta(hours=1))
        return [level for o, level in budget_alerts_check() if o.pk == order.pk]

    mail.outbox.clear()
    assert hourly_check() == []  # healthy: nothing to say
    deliver_some(5)  # 500 € left: attention, not e-mailed
    assert hourly_check() == []
    assert budget_mails() == []

    deliver_some(3)  # 200 €: warning
    assert hourly_check() == ["warning"]
    assert hourly_check() == []  # the next hour says nothing new
    deliver_some(1)  # 100 €: critical
    assert hourly_check() == ["critical"]
    assert hourly_check() == []
    deliver_some(1)  # 0 €: depleted
    assert hourly_check() == ["depleted"]
    assert hourly_check() == []

    sent = budget_mails()
    assert len(sent) == 3
    assert all(m.to == ["admin@example.com"] for m in sent)
    assert all(str(order) in m.subject for m in sent)
    assert "0.00" in sent[-1].body
    assert BudgetAlert.objects.get(order=order).level == "depleted"

    # Topped up: 1000 € of 2000 € = 50 %, attention; the state is reset
    # without an e-mail, and the next fall into warning is announced again.
    budget_topup(order=order, amount=D("1000.00"))
    assert hourly_check() == []
    assert BudgetAlert.objects.get(order=order).level == "attention"
    deliver_some(6)  # 400 € of 2000 €: warning again
    assert hourly_check() == ["warning"]
    assert len(budget_mails()) == 4


def test_a_fall_past_several_levels_sends_one_email(market, admin_user):
    order = prepaid_order_make(crm=market["buy"], budget=D("1000.00"), unit_price=D("100.00"))
    for _ in range(9):  # healthy → 100 € left (critical) between two checks
        deliver(lead_make(account=market["account"]))
    mail.outbox.clear()

    assert budget_alerts_check() == [(order, "critical")]
    assert len(budget_mails()) == 1


def test_the_hourly_beat_task_checks_budgets():
    from enersolar import celery_app

    entry = celery_app.conf.beat_schedule["check-prepaid-budgets"]  # what beat runs
    assert entry["task"] == "billing.tasks.check_budgets"
    assert entry["schedule"].minute == {5}
    assert entry["schedule"].hour == set(range(24))


def test_the_check_task_announces_like_the_service(admin_user):
    from billing.tasks import check_budgets

    order = OrderFactory(unit_price=D("10.00"))
    budget_topup(order=order, amount=D("5.00"))  # less than one lead: depleted
    mail.outbox.clear()
    assert check_budgets() == 1
    assert len(budget_mails()) == 1
    assert check_budgets() == 0


# --- Routing at an empty budget ------------------------------------------------------


def test_a_depleted_order_is_skipped_for_the_next_eligible_order(market, buyer_server):
    prepaid = prepaid_order_make(
        crm=market["buy"], budget=D("20.00"), unit_price=D("20.00"), priority=10
    )
    plain = prepaid_order_make(crm=market["buy"], budget=None, unit_price=D("30.00"), priority=0)
    first, second = lead_make(account=market["account"]), lead_make(account=market["account"])

    assert deliver(first) == "success"
    assert deliver(second) == "success"

    assert Delivery.objects.get(pk=first.pk).order == prepaid
    delivery = Delivery.objects.get(pk=second.pk)
    assert (delivery.order, delivery.unit_price) == (plain, D("30.00"))
    prepaid.refresh_from_db()
    assert prepaid.prepaid_balance == D("0.00")


def test_a_depleted_order_falls_through_to_another_crm_when_the_form_allows(market):
    other = crm_make("other", server=None, api_url=market["buy"].api_url)
    prepaid_order_make(crm=market["buy"], budget=D("20.00"), unit_price=D("20.00"))
    elsewhere = prepaid_order_make(crm=other, budget=D("100.00"), unit_price=D("25.00"))
    form = FormFactory(allow_cross_crm=True, landing_page__account=market["account"])

    assert deliver(lead_make(account=market["account"], form=form)) == "success"
    lead = lead_make(account=market["account"], form=form)
    assert deliver(lead) == "success"

    delivery = Delivery.objects.get(pk=lead.pk)
    assert (delivery.crm, delivery.order, delivery.source) == (other, elsewhere, "cross_crm")
    assert delivery.origin_crm == market["src"]
    elsewhere.refresh_from_db()
    assert elsewhere.prepaid_balance == D("75.00")


def test_a_depleted_order_without_alternative_holds_the_lead(market, buyer_server):
    order = prepaid_order_make(crm=market["buy"], budget=D("20.00"), unit_price=D("20.00"))
    assert deliver(lead_make(account=market["account"])) == "success"
    held = lead_make(account=market["account"])

    assert deliver(held) == "not_routed"

    held.refresh_from_db()
    assert held.status == Lead.Status.PENDING_NO_ORDER
    assert not Delivery.objects.filter(pk=held.pk).exists()
    assert len(buyer_server.received) == 1
    order.refresh_from_db()
    assert order.prepaid_balance == D("0.00")


def test_a_lead_waiting_for_a_retry_keeps_its_share_of_the_budget(market, buyer_server):
    order = prepaid_order_make(crm=market["buy"], budget=D("40.00"), unit_price=D("20.00"))
    buyer_server.status = 503
    waiting = lead_make(account=market["account"])
    assert deliver(waiting) == "transient"
    buyer_server.status = 201
    assert deliver(lead_make(account=market["account"])) == "success"

    # 20 € left on the order, but the queued lead will take them.
    late = lead_make(account=market["account"])
    assert deliver(late) == "not_routed"
    late.refresh_from_db()
    assert late.status == Lead.Status.PENDING_NO_ORDER
    order.refresh_from_db()
    assert order.prepaid_balance == D("20.00")


def test_a_top_up_releases_held_leads(market, buyer_server):
    order = prepaid_order_make(crm=market["buy"], budget=D("20.00"), unit_price=D("20.00"))
    assert deliver(lead_make(account=market["account"])) == "success"
    held = lead_make(account=market["account"])
    other_product = lead_make(account=market["account"], product_code="PAC")
    assert deliver(held) == "not_routed"
    Lead.objects.filter(pk=other_product.pk).update(status=Lead.Status.PENDING_NO_ORDER)

    budget_topup(order=order, amount=D("40.00"))

    held.refresh_from_db()
    other_product.refresh_from_db()
    assert held.status == Lead.Status.PENDING  # the next queue run routes it
    assert other_product.status == Lead.Status.PENDING_NO_ORDER  # not this order's product
    assert deliver(held) == "success"
    assert Delivery.objects.get(pk=held.pk).order == order
    order.refresh_from_db()
    assert (order.prepaid_balance, order.prepaid_total) == (D("20.00"), D("60.00"))


# --- Concurrency (PostgreSQL) --------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_deliveries_never_overspend_a_budget(market, buyer_server):
    leads_count, affordable = 20, 5
    order = prepaid_order_make(
        crm=market["buy"], budget=D("20.00") * affordable, unit_price=D("20.00")
    )
    leads = [lead_make(account=market["account"]) for _ in range(leads_count)]
    barrier = threading.Barrier(leads_count)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(lead):
        try:
            barrier.wait(timeout=10)
            outcome = deliver(lead)
            with lock:
                outcomes.append(outcome)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(lead,)) for lead in leads]
    for t in threads:
        t.start()
    balances = []
    while any(t.is_alive() for t in threads):  # watch the balance during the race
        balances.append(Order.objects.values_list("prepaid_balance", flat=True).get(pk=order.pk))
        time.sleep(0.005)
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert sorted(outcomes) == ["not_routed"] * 15 + ["success"] * 5
    assert Delivery.objects.filter(order=order, state=Delivery.State.SUCCESS).count() == 5
    assert Lead.objects.filter(status=Lead.Status.PENDING_NO_ORDER).count() == 15
    assert len(buyer_server.received) == 5
    order.refresh_from_db()
    assert order.prepaid_balance == D("0.00")
    assert ledger_sum(order) == D("0.00")
    assert len(consumptions(order)) == 5
    assert balances and min(balances) >= 0


# --- Top-up in the admin -------------------------------------------------------------

LEDGER_ADMIN = "/admin/billing/budgettransaction/"


def test_admin_top_up_goes_through_the_ledger(admin_client, admin_user):
    order = OrderFactory(unit_price=D("20.00"))

    response = admin_client.post(
        f"{LEDGER_ADMIN}add/", {"order": order.pk, "amount": "150.00", "note": "virement"}
    )

    assert response.status_code == 302
    entry = BudgetTransaction.objects.get()
    assert (entry.kind, entry.amount, entry.created_by) == ("topup", D("150.00"), admin_user)
    order.refresh_from_db()
    assert (order.prepaid_balance, order.prepaid_total) == (D("150.00"), D("150.00"))
    assert admin_client.get(LEDGER_ADMIN).status_code == 200


@pytest.mark.parametrize("amount", ["0", "-50.00"])
def test_admin_refuses_a_top_up_that_is_not_positive(admin_client, amount):
    order = OrderFactory(unit_price=D("20.00"))
    response = admin_client.post(f"{LEDGER_ADMIN}add/", {"order": order.pk, "amount": amount})
    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors
    assert not BudgetTransaction.objects.exists()
    order.refresh_from_db()
    assert order.prepaid_balance is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_batches_charging_the_same_orders_never_deadlock(market, monkeypatch):
    """Each batch holds a lock on its first order while the other takes its
    own first one; given in opposite orders, they would wait on each other."""
    from billing import services
    from routing.tests.factories import DeliveryFactory

    first, second = (
        prepaid_order_make(crm=market["buy"], budget=D("100.00"), unit_price=D("10.00"))
        for _ in range(2)
    )

    def delivery_of(order):
        lead = lead_make(account=market["account"], status=Lead.Status.SUCCESS)
        return DeliveryFactory(lead=lead, order=order, state=Delivery.State.SUCCESS)

    batches = [
        [delivery_of(second), delivery_of(first)],
        [delivery_of(first), delivery_of(second)],
    ]
    both_hold_one = threading.Barrier(2)
    real_ledger_write = services._ledger_write
    local = threading.local()

    def ledger_write_then_meet(**kwargs):
        entry = real_ledger_write(**kwargs)
        if not getattr(local, "met", False):
            local.met = True
            # Broken: the other batch waits for our lock, there is no cycle.
            with contextlib.suppress(threading.BrokenBarrierError):
                both_hold_one.wait(timeout=3)
        return entry

    monkeypatch.setattr(services, "_ledger_write", ledger_write_then_meet)
    errors: list[BaseException] = []

    def charge(deliveries):
        try:
            with transaction.atomic():
                services.budgets_consume(deliveries=deliveries)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=charge, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    for order in (first, second):
        order.refresh_from_db()
        assert order.prepaid_balance == D("80.00")
        assert len(consumptions(order)) == 2
