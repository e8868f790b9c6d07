"""The back office of routing: the lead's delivery panel and the queue,
order and verification actions, driven through the admin's own pages."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from enersolar.models import ActivityLog
from enersolar.tests.factories import UserFactory, product
from leads.models import Lead
from routing.models import Delivery, Order, VerificationReport
from routing.services.batch import lead_deliver

from .factories import DeliveryFactory
from .helpers import make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(buyer):
    return make_world(buyer.url("zr7"), order_fields={"name": "ZR7 PV France"})


def login(client, role):
    user = UserFactory(role=role)
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return user


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- The lead's delivery panel ----------------------------------------------------------------


def test_lead_page_shows_the_routing_and_every_attempt(client, buyer, world):
    buyer.answer(500, {"message": "upstream down"}, times=1)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        lead_deliver(lead_id=lead.pk)
    login(client, "Viewer")

    response = client.get(reverse("admin:leads_lead_change", args=[lead.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Routing and attempts" in page
    assert "ZR7" in page and "ZR7 PV France" in page
    assert "25.00" in page  # the price snapshot
    assert "upstream down" in page and "HTTP 500" in page
    assert "transient failure" in page and "success" in page
    assert page.count("<td>zr7</td>") == 2  # one row per attempt


def test_lead_page_of_a_lead_never_routed(client, world):
    lead = world.lead(status=Lead.Status.NO_CRM)
    login(client, "Viewer")

    page = client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()

    assert "Not routed." in page


def test_the_panel_never_shows_the_key(client, buyer, world):
    buyer.answer(403, {"message": f"bad key {world.routing.api_key}"})
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    login(client, "Admin")

    page = client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()

    assert "bad key" in page
    assert world.routing.api_key not in page


# --- Relancer ---------------------------------------------------------------------------------


def test_relancer_from_the_lead_list(client, buyer, world, django_capture_on_commit_callbacks):
    buyer.answer(404, times=1)
    failed = world.lead()
    lead_deliver(lead_id=failed.pk)
    delivered = world.lead()
    lead_deliver(lead_id=delivered.pk)
    editor = login(client, "Editor")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:leads_lead_changelist"),
            {"action": "retry", "_selected_action": [failed.pk, delivered.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "1 lead(s) sent again." in messages_of(response)
    assert Lead.objects.get(pk=failed.pk).status == Lead.Status.SUCCESS
    assert buyer.count_by_idempotency_key(answered=201) == {str(failed.pk): 1, str(delivered.pk): 1}
    assert ActivityLog.objects.get(action=ActivityLog.Action.LEAD_RETRY).user == editor


def test_relancer_from_the_queue_list(client, buyer, world, django_capture_on_commit_callbacks):
    buyer.answer(400, times=1)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    login(client, "Editor")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:routing_delivery_changelist"),
            {"action": "retry", "_selected_action": [lead.pk]},
            follow=True,
        )

    assert "1 lead(s) sent again." in messages_of(response)
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.SUCCESS


def test_a_viewer_has_no_relancer(client, buyer, world):
    buyer.answer(404)
    lead = world.lead()
    lead_deliver(lead_id=lead.pk)
    login(client, "Viewer")

    page = client.get(reverse("admin:leads_lead_changelist")).content.decode()
    assert 'value="retry"' not in page
    client.post(
        reverse("admin:leads_lead_changelist"),
        {"action": "retry", "_selected_action": [lead.pk]},
    )

    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.FAILED
    assert len(buyer.requests) == 1


# --- Queue page actions -----------------------------------------------------------------------


def test_queue_page_buttons_for_admins_only(client, world):
    login(client, "Admin")
    page = client.get(reverse("admin:routing_delivery_changelist")).content.decode()
    assert reverse("admin:routing_delivery_process") in page
    assert reverse("admin:routing_delivery_retry_exhausted") in page

    login(client, "Editor")
    page = client.get(reverse("admin:routing_delivery_changelist")).content.decode()
    assert reverse("admin:routing_delivery_process") not in page


def test_process_now(client, buyer, world):
    due = DeliveryFactory(lead=world.lead(status=Lead.Status.QUEUED), order=world.order)
    admin = login(client, "Admin")

    response = client.post(reverse("admin:routing_delivery_process"), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:routing_delivery_changelist")
    assert "Queue processed: 1 sent to workers, 0 released, 0 re-dispatched, 0 expired." in (
        messages_of(response)
    )
    assert Lead.objects.get(pk=due.pk).status == Lead.Status.SUCCESS
    assert ActivityLog.objects.get(action=ActivityLog.Action.QUEUE_ACTION).user == admin


def test_process_now_refused_to_an_editor(client, buyer, world):
    DeliveryFactory(lead=world.lead(status=Lead.Status.QUEUED), order=world.order)
    login(client, "Editor")

    response = client.post(reverse("admin:routing_delivery_process"), follow=True)

    assert "You may not process the queue." in messages_of(response)
    assert buyer.requests == []


def test_process_now_needs_post(client, world):
    login(client, "Admin")
    assert client.get(reverse("admin:routing_delivery_process")).status_code == 405


def test_retry_exhausted(client, buyer, world, django_capture_on_commit_callbacks):
    exhausted = DeliveryFactory(
        lead=world.lead(status=Lead.Status.FAILED),
        order=world.order,
        state=Delivery.State.EXHAUSTED,
        attempts=6,
    )
    login(client, "Admin")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:routing_delivery_retry_exhausted"), follow=True)

    assert "1 exhausted item(s) back in the queue." in messages_of(response)
    # A queue run is started at once: the item is delivered.
    assert Lead.objects.get(pk=exhausted.pk).status == Lead.Status.SUCCESS
    assert Delivery.objects.get(pk=exhausted.pk).attempts == 1


# --- Order activation releases held leads -----------------------------------------------------


def order_form(order: Order, **changes) -> dict:
    data = {
        "crm": order.crm_id,
        "name": order.name,
        "product_type": order.product_type_id,
        "unit_price": str(order.unit_price),
        "priority": order.priority,
        "starts_on": "",
        "ends_on": "",
        "cap_daily": "",
        "cap_weekly": "",
        "cap_monthly": "",
        "api_key": "",  # empty keeps the saved key
    }
    if order.is_active:
        data["is_active"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def held_lead(world, **fields):
    """A lead that found no order an hour ago."""
    with time_machine.travel(timezone.now() - timedelta(hours=1)):
        lead = world.lead(**fields)
        lead_deliver(lead_id=lead.pk)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.PENDING_NO_ORDER
    return lead


def test_reactivating_an_order_releases_held_leads(
    client, buyer, world, django_capture_on_commit_callbacks
):
    world.order.is_active = False
    world.order.save()
    held = [held_lead(world), held_lead(world)]
    pac_world = make_world(buyer.url("zr7"), product_code="PAC", order_fields={"is_active": False})
    other_product = held_lead(pac_world)
    login(client, "Admin")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:routing_order_change", args=[world.order.pk]),
            order_form(world.order, is_active="on"),
            follow=True,
        )

    assert response.status_code == 200
    assert "2 held lead(s) will be routed again." in messages_of(response)
    assert Order.objects.get(pk=world.order.pk).is_active
    assert Order.objects.get(pk=world.order.pk).api_key == world.order.api_key
    for lead in held:
        lead.refresh_from_db()
        assert lead.status == Lead.Status.SUCCESS
        assert Delivery.objects.get(pk=lead.pk).order == world.order
    assert Lead.objects.get(pk=other_product.pk).status == Lead.Status.PENDING_NO_ORDER
    assert len(buyer.count_by_idempotency_key(answered=201)) == 2


def test_a_new_order_releases_held_leads(client, buyer, world, django_capture_on_commit_callbacks):
    world.order.delete()
    lead = held_lead(world)
    login(client, "Admin")
    new = Order(
        crm=world.crm,
        name="Fresh order",
        product_type=product("PV"),
        unit_price="22.00",
        is_active=True,
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:routing_order_add"),
            order_form(new, api_key="fresh-order-key-1234"),
            follow=True,
        )

    assert "1 held lead(s) will be routed again." in messages_of(response)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.SUCCESS
    assert Delivery.objects.get(pk=lead.pk).order.name == "Fresh order"


def test_editing_an_active_order_releases_nothing(client, buyer, world):
    world.order.departments.set(["75"])
    lead = held_lead(world, departement="13")  # the order does not cover 13
    login(client, "Admin")

    response = client.post(
        reverse("admin:routing_order_change", args=[world.order.pk]),
        order_form(world.order, priority=3),
        follow=True,
    )

    assert not any("held lead" in m for m in messages_of(response))
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.PENDING_NO_ORDER


# --- Verification -----------------------------------------------------------------------------


def test_verification_run_now(client, world, admin_inbox):
    admin = login(client, "Admin")
    page = client.get(reverse("admin:routing_verificationreport_changelist")).content.decode()
    assert reverse("admin:routing_verificationreport_run") in page

    response = client.post(reverse("admin:routing_verificationreport_run"), follow=True)

    report = VerificationReport.objects.get()
    assert report.triggered_by == admin.username
    assert response.redirect_chain[-1][0] == reverse(
        "admin:routing_verificationreport_change", args=[report.pk]
    )
    assert "Verification done: 0 leads checked." in messages_of(response)
    assert len(admin_inbox) == 1


def test_verification_run_now_refused_to_a_viewer(client, world):
    login(client, "Viewer")
    page = client.get(reverse("admin:routing_verificationreport_changelist")).content.decode()
    assert reverse("admin:routing_verificationreport_run") not in page

    response = client.post(reverse("admin:routing_verificationreport_run"), follow=True)

    assert "You may not run the verification." in messages_of(response)
    assert not VerificationReport.objects.exists()
