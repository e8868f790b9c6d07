"""The built-in pretend buyer, and a fresh demo install delivering end to end."""

import time
import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from demo.models import SandboxBuyer, SandboxReceipt
from leads.models import Lead
from routing.models import Delivery
from tracking.models import Form

URL = "/sandbox/crm/{}/lead/api/create_lead/"
LEAD = {"phone": "0612345678", "nom": "Martin", "custom_fields": {}}


def post(client, slug="zr7", body=None, key="demo-key", idempotency=None, **extra):
    headers = {}
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = key
    if idempotency is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = idempotency
    return client.post(
        URL.format(slug),
        body if body is not None else LEAD,
        content_type="application/json",
        **headers,
        **extra,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "mode, status, message",
    [
        (SandboxBuyer.Mode.CREATED, 201, "Lead created"),
        (SandboxBuyer.Mode.DOUBLON, 200, "doublon"),
        (SandboxBuyer.Mode.BAD_REQUEST, 400, "Invalid payload"),
        (SandboxBuyer.Mode.FORBIDDEN, 403, "Invalid API key"),
        (SandboxBuyer.Mode.SERVER_ERROR, 500, "Internal error"),
    ],
)
def test_answers_per_mode(client, mode, status, message):
    SandboxBuyer.objects.create(slug="zr7", mode=mode)

    response = post(client, idempotency="lead-1")

    assert response.status_code == status
    assert response.json()["message"] == message
    receipt = SandboxReceipt.objects.get()
    assert (receipt.buyer.slug, receipt.request_id, receipt.status_code) == (
        "zr7",
        "lead-1",
        status,
    )
    assert receipt.payload == LEAD
    assert SandboxBuyer.objects.get().received == (1 if status == 201 else 0)


@pytest.mark.django_db
def test_slow_mode_answers_201_after_its_delay(client):
    SandboxBuyer.objects.create(slug="zr7", mode=SandboxBuyer.Mode.SLOW, delay_seconds=0.3)

    started = time.monotonic()
    response = post(client)
    elapsed = time.monotonic() - started

    assert response.status_code == 201
    assert elapsed >= 0.3


@pytest.mark.django_db
def test_normal_mode_answers_without_the_delay(client):
    # The other side of the slow test: the wait comes from the slow mode. A
    # long delay, so that one applied by mistake cannot pass for a slow machine.
    SandboxBuyer.objects.create(slug="zr7", delay_seconds=30)

    started = time.monotonic()
    assert post(client).status_code == 201
    assert time.monotonic() - started < 30


@pytest.mark.django_db
def test_an_unknown_slug_is_created_answering_201(client):
    assert post(client, slug="newcrm").status_code == 201
    assert SandboxBuyer.objects.get().slug == "newcrm"


@pytest.mark.django_db
def test_without_authorization_is_403(client):
    response = post(client, key=None)
    assert response.status_code == 403
    assert SandboxBuyer.objects.get().received == 0


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"nom": "Martin"}, ["0612345678"]])
def test_without_phone_is_400(client, body):
    assert post(client, body=body).status_code == 400


@pytest.mark.django_db
def test_broken_json_is_400(client):
    response = client.post(
        URL.format("zr7"), "{not json", content_type="application/json", HTTP_AUTHORIZATION="k"
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_repeated_idempotency_key_answers_doublon(client):
    first = post(client, idempotency="lead-42")
    again = post(client, idempotency="lead-42")
    other = post(client, idempotency="lead-43")

    assert first.status_code == 201
    assert again.status_code == 200 and "doublon" in again.json()["message"]
    assert other.status_code == 201
    assert SandboxBuyer.objects.get().received == 2


@pytest.mark.django_db
def test_a_key_first_refused_is_accepted_later(client):
    """Only an accepted lead makes a repeat a doublon."""
    buyer = SandboxBuyer.objects.create(slug="zr7", mode=SandboxBuyer.Mode.SERVER_ERROR)
    assert post(client, idempotency="lead-7").status_code == 500
    buyer.mode = SandboxBuyer.Mode.CREATED
    buyer.save()
    assert post(client, idempotency="lead-7").status_code == 201


@pytest.mark.django_db
def test_disabled_sandbox_is_404(client, settings):
    settings.SANDBOX_ENABLED = False
    assert post(client).status_code == 404
    assert not SandboxBuyer.objects.exists()


@pytest.mark.django_db
def test_only_post(client):
    assert client.get(URL.format("zr7")).status_code == 405


# --- End to end: seed_demo, the public API, Celery (eager), the sandbox over HTTP ---------------


def submit(client, form_code, departement, phone, n):
    response = client.post(
        "/api/public/leads",
        {
            "session_id": str(uuid.uuid4()),
            "form_code": form_code,
            "phone": phone,
            "nom": "Martin",
            "prenom": "Claire",
            "departement": departement,
        },
        content_type="application/json",
        REMOTE_ADDR=f"10.0.0.{n}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "pending", response.json()
    return Lead.objects.get(pk=response.json()["lead_id"])


@pytest.fixture
def hang_up():
    """Close the delivery's keep-alive connections after the test, so that the
    live server's handler threads end with it."""
    yield
    from routing.services.send import _http

    _http().close()


@pytest.mark.django_db(transaction=True)
def test_demo_install_delivers_end_to_end(live_server, client, hang_up):
    sandbox = live_server.url + URL
    call_command(
        "seed_demo",
        crm_url_zr7=sandbox.format("zr7"),
        crm_url_mdl=sandbox.format("mdl"),
        stdout=StringIO(),
    )
    codes = dict(Form.objects.values_list("product_type__code", "code"))
    assert codes == {"PV": "PV-001", "PAC": "PAC-001", "ITE": "ITE-001"}

    # Each intake commits, then hands the lead to Celery (eager here), which
    # POSTs it to the sandbox buyer served by the live server.
    pv_paris = submit(client, "PV-001", "75", "0612345678", 1)
    pv_marseille = submit(client, "PV-001", "13", "0698765432", 2)
    pac = submit(client, "PAC-001", "69", "0611223344", 3)
    ite = submit(client, "ITE-001", "33", "0632547698", 4)

    for lead in (pv_paris, pv_marseille, pac, ite):
        lead.refresh_from_db()
        assert lead.status == Lead.Status.SUCCESS, (lead.form_code, lead.status)
    route = {
        lead.form_code + "/" + lead.departement: Delivery.objects.select_related(
            "crm", "origin_crm", "order"
        ).get(pk=lead.pk)
        for lead in (pv_paris, pv_marseille, pac, ite)
    }
    paris, marseille = route["PV-001/75"], route["PV-001/13"]
    assert (paris.crm.slug, paris.source, paris.order.name) == (
        "zr7",
        "account_routing",
        "ZR7 PV France hors 13",
    )
    assert (marseille.crm.slug, marseille.source, marseille.origin_crm.slug) == (
        "mdl",
        "cross_crm",
        "zr7",
    )
    assert marseille.unit_price == Decimal("30.00")
    assert route["PAC-001/69"].crm.slug == "zr7"
    assert (route["ITE-001/33"].crm.slug, route["ITE-001/33"].source) == ("mdl", "account_routing")

    receipts = {
        r.request_id: r for r in SandboxReceipt.objects.select_related("buyer").order_by("pk")
    }
    assert {k: r.buyer.slug for k, r in receipts.items()} == {
        str(pv_paris.pk): "zr7",
        str(pv_marseille.pk): "mdl",
        str(pac.pk): "zr7",
        str(ite.pk): "mdl",
    }
    assert {r.status_code for r in receipts.values()} == {201}
    assert receipts[str(pv_marseille.pk)].payload["phone"] == "0698765432"
    custom = receipts[str(pac.pk)].payload["custom_fields"]
    assert custom["product_type"] == {"value": "PAC"}
    assert custom["departement"] == {"value": "69"}
    assert dict(SandboxBuyer.objects.values_list("slug", "received")) == {"zr7": 2, "mdl": 2}
