"""The routing decision (SPEC §4): which CRM, which key, which order, which price."""

import threading
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction

from enersolar.tests.factories import AccountFactory, AccountRoutingFactory, CRMFactory, product
from leads.models import Lead
from leads.tests.factories import LeadFactory
from routing.models import Delivery
from routing.selectors import delivery_api_key
from routing.services.batch import lead_deliver
from routing.services.decide import lead_route
from tracking.tests.factories import FormFactory, LandingPageFactory

from .factories import DefaultPriceFactory, DeliveryFactory, OrderFactory
from .helpers import make_world

pytestmark = pytest.mark.django_db

# Nothing is sent in these tests: the decision alone.
NOWHERE = "http://127.0.0.1:9/zr7/lead/api/create_lead/"


def route(lead: Lead) -> Delivery | None:
    """lead_route as the queue calls it: in a transaction, on a fresh lead row."""
    with transaction.atomic():
        fresh = (
            Lead.objects.select_for_update(of=("self",))
            .select_related("form__crm_override", "account")
            .get(pk=lead.pk)
        )
        delivery = lead_route(lead=fresh)
    lead.refresh_from_db()
    return delivery


def at(moment: str):
    """Travel to a UTC instant, frozen."""
    return time_machine.travel(datetime.fromisoformat(moment).replace(tzinfo=UTC), tick=False)


# --- 1. Candidate CRM ---------------------------------------------------------------


def test_form_override_wins_over_the_account_routing():
    world = make_world(NOWHERE)
    mdl = CRMFactory(slug="mdl")
    OrderFactory(crm=mdl, unit_price=Decimal("31.00"))
    world.form.crm_override = mdl
    world.form.crm_override_api_key = "override-key-9999"
    world.form.save()

    delivery = route(world.lead())

    assert delivery.crm == mdl
    assert delivery.source == Delivery.Source.FORM_OVERRIDE
    assert delivery.unit_price == Decimal("31.00")
    assert delivery_api_key(delivery) == "override-key-9999"


@pytest.mark.parametrize("incomplete", ["no_key", "inactive_crm"])
def test_incomplete_override_falls_back_to_the_account_routing(incomplete):
    world = make_world(NOWHERE, key="account-key-1111")
    mdl = CRMFactory(slug="mdl", is_active=incomplete != "inactive_crm")
    OrderFactory(crm=mdl)
    world.form.crm_override = mdl
    world.form.crm_override_api_key = "" if incomplete == "no_key" else "override-key-9999"
    world.form.save()

    delivery = route(world.lead())

    assert delivery.crm == world.crm
    assert delivery.source == Delivery.Source.ACCOUNT_ROUTING
    assert delivery.order == world.order
    assert delivery_api_key(delivery) == "account-key-1111"


def test_no_routing_for_the_product_is_no_crm():
    world = make_world(NOWHERE, product_code="PAC")  # the account routes PAC only
    form_pv = FormFactory(
        account=world.account,
        landing_page=LandingPageFactory(account=world.account),
        product_type=product("PV"),
    )

    lead = LeadFactory(form=form_pv)
    assert route(lead) is None

    assert lead.status == Lead.Status.NO_CRM
    assert lead.reasons == ["NO_CRM"]
    assert not Delivery.objects.filter(pk=lead.pk).exists()


def test_routing_to_an_inactive_crm_is_no_crm():
    world = make_world(NOWHERE)
    world.crm.is_active = False
    world.crm.save()

    lead = world.lead()
    assert route(lead) is None
    assert lead.status == Lead.Status.NO_CRM


def test_a_crm_without_key_is_no_api_key():
    world = make_world(NOWHERE, key="")

    lead = world.lead()
    assert route(lead) is None

    assert lead.status == Lead.Status.NO_API_KEY
    assert lead.reasons == ["NO_API_KEY:zr7"]
    assert not Delivery.objects.exists()


# --- 2. Orders ----------------------------------------------------------------------


def test_an_order_for_another_product_is_not_eligible():
    world = make_world(NOWHERE, order=False)
    OrderFactory(crm=world.crm, product_type=product("PAC"))

    lead = world.lead()
    assert route(lead) is None

    assert lead.status == Lead.Status.PENDING_NO_ORDER
    assert lead.reasons == ["NO_ELIGIBLE_ORDER:zr7"]


def test_an_inactive_order_is_not_eligible():
    world = make_world(NOWHERE, order_fields={"is_active": False})

    lead = world.lead()
    assert route(lead) is None
    assert lead.status == Lead.Status.PENDING_NO_ORDER


def test_departments_restrict_an_order_and_empty_means_all():
    world = make_world(NOWHERE)  # its order has no department: all of France
    south = OrderFactory(crm=world.crm, priority=10)
    south.departments.set(["13", "2A"])

    in_13 = route(world.lead(departement="13"))
    in_2a = route(world.lead(departement="2A"))
    in_75 = route(world.lead(departement="75"))

    assert in_13.order == south and in_2a.order == south
    assert in_75.order == world.order  # the high-priority order does not cover 75

    world.order.departments.set(["69"])
    lead = world.lead(departement="75")
    assert route(lead) is None
    assert lead.status == Lead.Status.PENDING_NO_ORDER


@pytest.mark.parametrize(
    "starts_on, ends_on, eligible",
    [
        (date(2030, 6, 16), None, False),  # not started
        (None, date(2030, 6, 14), False),  # over
        (date(2030, 6, 15), date(2030, 6, 15), True),  # both bounds inclusive
        (date(2030, 6, 1), date(2030, 6, 30), True),
    ],
)
def test_order_dates(starts_on, ends_on, eligible):
    world = make_world(NOWHERE, order_fields={"starts_on": starts_on, "ends_on": ends_on})

    with at("2030-06-15T12:00:00"):
        lead = world.lead()
        delivery = route(lead)

    assert (delivery is not None) is eligible
    assert lead.status == (Lead.Status.PENDING if eligible else Lead.Status.PENDING_NO_ORDER)


def test_daily_cap_counts_the_paris_day():
    world = make_world(NOWHERE, order_fields={"cap_daily": 2})

    with at("2030-06-15T10:00:00"):
        assert route(world.lead()).order == world.order
        assert route(world.lead()).order == world.order
    with at("2030-06-15T21:30:00"):  # 23:30 in Paris: still the 15th
        held = world.lead()
        assert route(held) is None
    with at("2030-06-15T22:30:00"):  # 00:30 in Paris on the 16th: a new day
        assert route(world.lead()).order == world.order

    assert held.status == Lead.Status.PENDING_NO_ORDER
    assert Delivery.objects.filter(order=world.order).count() == 3


def test_weekly_cap_resets_on_monday_in_paris():
    world = make_world(NOWHERE, order_fields={"cap_weekly": 2})

    with at("2030-06-17T10:00:00"):  # Monday
        route(world.lead())
        route(world.lead())
    with at("2030-06-23T21:30:00"):  # Sunday 23:30 in Paris
        assert route(world.lead()) is None
    with at("2030-06-23T22:30:00"):  # Monday 00:30 in Paris
        assert route(world.lead()).order == world.order


def test_monthly_cap_resets_on_the_first_in_paris():
    world = make_world(NOWHERE, order_fields={"cap_monthly": 2})

    with at("2030-06-03T10:00:00"):
        route(world.lead())
    with at("2030-06-10T10:00:00"):
        route(world.lead())
    with at("2030-06-30T21:30:00"):  # 23:30 on June 30 in Paris
        assert route(world.lead()) is None
    with at("2030-06-30T22:30:00"):  # July 1st in Paris
        assert route(world.lead()).order == world.order


def test_failed_deliveries_give_their_place_under_a_cap_back():
    world = make_world(NOWHERE, order_fields={"cap_daily": 2})
    for state in (Delivery.State.FAILED, Delivery.State.EXHAUSTED, Delivery.State.SUCCESS):
        DeliveryFactory(lead=world.lead(), order=world.order, state=state)

    assert route(world.lead()).order == world.order  # 1 counted + this one = 2
    assert route(world.lead()) is None


def test_highest_priority_first_then_least_filled_today():
    world = make_world(NOWHERE, order_fields={"priority": 1})
    high = OrderFactory(crm=world.crm, priority=5, cap_daily=1)
    twin = OrderFactory(crm=world.crm, priority=1)

    first = route(world.lead())
    assert first.order == high
    # high is full; world.order and twin tie on priority: each takes its turn
    # as the least filled today.
    orders = [route(world.lead()).order for _ in range(4)]
    assert orders.count(world.order) == 2 and orders.count(twin) == 2
    assert orders[0] != orders[1]


# --- 3. CRM without order requirement ----------------------------------------------------


def test_crm_taking_unordered_leads_gets_them_at_its_default_price():
    world = make_world(NOWHERE, order=False)
    world.crm.only_ordered_leads = False
    world.crm.save()
    DefaultPriceFactory(crm=world.crm, product_type=product("PV"), unit_price=Decimal("12.50"))

    lead = world.lead()
    delivery = route(lead)

    assert lead.status == Lead.Status.PENDING
    assert delivery.crm == world.crm
    assert delivery.order is None
    assert delivery.unit_price == Decimal("12.50")
    assert delivery.reason == "NO_ORDER_DEFAULT_PRICE"
    assert delivery.source == Delivery.Source.ACCOUNT_ROUTING


def test_crm_taking_unordered_leads_still_prefers_an_eligible_order():
    world = make_world(NOWHERE, order_fields={"unit_price": Decimal("27.00")})
    world.crm.only_ordered_leads = False
    world.crm.save()
    DefaultPriceFactory(crm=world.crm, product_type=product("PV"))

    delivery = route(world.lead())

    assert delivery.order == world.order
    assert delivery.unit_price == Decimal("27.00")


# --- 4. Cross-CRM fallback ------------------------------------------------------------------


def cross_world(*, allow: bool):
    world = make_world(NOWHERE, allow_cross_crm=allow)
    world.order.departments.set(["75"])  # zr7 does not buy in 13
    return world


def test_cross_crm_takes_the_highest_priority_order_of_another_crm():
    world = cross_world(allow=True)
    mdl, abc = CRMFactory(slug="mdl"), CRMFactory(slug="abc")
    OrderFactory(crm=mdl, priority=1, unit_price=Decimal("30.00"))
    best = OrderFactory(crm=abc, priority=3, unit_price=Decimal("33.00"), api_key="abc-key-3333")

    lead = world.lead(departement="13")
    delivery = route(lead)

    assert lead.status == Lead.Status.PENDING
    assert delivery.crm == abc
    assert delivery.order == best
    assert delivery.source == Delivery.Source.CROSS_CRM
    assert delivery.origin_crm == world.crm
    assert delivery.unit_price == Decimal("33.00")
    assert delivery.reason == "CROSS_CRM:zr7->abc"
    assert delivery_api_key(delivery) == "abc-key-3333"


def test_cross_crm_tie_goes_to_the_least_filled_today():
    world = cross_world(allow=True)
    mdl, abc = CRMFactory(slug="mdl"), CRMFactory(slug="abc")
    busy = OrderFactory(crm=mdl, priority=2)
    idle = OrderFactory(crm=abc, priority=2)
    DeliveryFactory(lead=world.lead(), order=busy)

    assert route(world.lead(departement="13")).order == idle


def test_cross_crm_skips_orders_without_key_and_inactive_crms():
    world = cross_world(allow=True)
    OrderFactory(crm=CRMFactory(slug="nokey"), priority=9, api_key="")
    OrderFactory(crm=CRMFactory(slug="off", is_active=False), priority=8)
    usable = OrderFactory(crm=CRMFactory(slug="mdl"), priority=1)

    assert route(world.lead(departement="13")).order == usable


def test_no_cross_crm_when_the_form_does_not_allow_it():
    world = cross_world(allow=False)
    OrderFactory(crm=CRMFactory(slug="mdl"))

    lead = world.lead(departement="13")
    assert route(lead) is None

    assert lead.status == Lead.Status.PENDING_NO_ORDER
    assert lead.reasons == ["NO_ELIGIBLE_ORDER:zr7"]


def test_cross_crm_allowed_but_nothing_eligible_anywhere_holds_the_lead():
    world = cross_world(allow=True)
    OrderFactory(crm=CRMFactory(slug="mdl"), product_type=product("ITE"))

    lead = world.lead(departement="13")
    assert route(lead) is None

    assert lead.status == Lead.Status.PENDING_NO_ORDER
    assert lead.reasons == ["NO_ELIGIBLE_ORDER"]


# --- 5. The stored decision ---------------------------------------------------------------------


def test_decision_is_stored_and_the_price_is_a_snapshot():
    mdl = CRMFactory(slug="mdl")
    world = make_world(NOWHERE, order_fields={"unit_price": Decimal("25.00")})
    world.account.origin_crm = mdl  # the traffic belongs to mdl, the lead goes to zr7
    world.account.save()

    with at("2030-06-15T12:00:00"):
        lead = world.lead()
        route(lead)

    delivery = Delivery.objects.get(pk=lead.pk)
    assert delivery.origin_crm == mdl
    assert delivery.crm == world.crm
    assert delivery.source == Delivery.Source.ACCOUNT_ROUTING
    assert delivery.reason == f"ORDER:{world.order.pk}"
    assert delivery.order == world.order
    assert delivery.unit_price == Decimal("25.00")
    assert delivery.routed_at == datetime(2030, 6, 15, 12, tzinfo=UTC)
    assert delivery.state == Delivery.State.PENDING
    assert delivery.next_attempt_at == delivery.routed_at  # due at once

    world.order.unit_price = Decimal("40.00")
    world.order.save()
    delivery.refresh_from_db()
    assert delivery.unit_price == Decimal("25.00")


def test_a_lead_without_account_has_no_origin_crm_but_can_still_route():
    """A partner lead posted with product_type only has no form; it still has
    its key's account (covered above). Without any account there is no CRM."""
    lead = LeadFactory(form=None, account=None, product_type=product("PV"))
    assert route(lead) is None
    assert lead.status == Lead.Status.NO_CRM


def test_partner_lead_without_form_routes_by_its_account():
    account = AccountFactory()
    crm = CRMFactory(slug="zr7", api_url=NOWHERE)
    AccountRoutingFactory(account=account, crm=crm, product_type=product("PV"), api_key="k-0001")
    order = OrderFactory(crm=crm)
    OrderFactory(crm=CRMFactory(slug="mdl"), priority=9)  # no form: no cross-CRM

    lead = LeadFactory(form=None, account=account, product_type=product("PV"))
    delivery = route(lead)

    assert delivery.crm == crm and delivery.order == order
    assert delivery.origin_crm == account.origin_crm


# --- 6. Caps under concurrency (PostgreSQL row locks) --------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_daily_cap_holds_under_concurrent_deliveries(buyer):
    n, cap = 20, 5
    world = make_world(buyer.url(), order_fields={"cap_daily": cap})
    buyer.answer(201, delay=0.05)  # a slow buyer widens the race window
    lead_ids = [world.lead().pk for _ in range(n)]
    start = threading.Barrier(n)
    errors = []

    def deliver(lead_id):
        try:
            start.wait(timeout=10)
            lead_deliver(lead_id=lead_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in lead_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert Delivery.objects.filter(order=world.order).count() == cap
    statuses = list(Lead.objects.values_list("status", flat=True))
    assert statuses.count(Lead.Status.SUCCESS) == cap
    assert statuses.count(Lead.Status.PENDING_NO_ORDER) == n - cap
    assert sum(buyer.count_by_idempotency_key(answered=201).values()) == cap
