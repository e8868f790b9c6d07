"""One delivery attempt against a real HTTP buyer (SPEC §5): payload, headers,
answer classification, the attempt record, and no secret anywhere."""

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import time_machine

from leads.models import Lead
from routing.models import Delivery, DeliveryAttempt
from routing.services import send as delivery_module
from routing.services.batch import lead_deliver
from routing.services.send import classify
from tests.buyer import Answer, refused_url

from .helpers import make_world

pytestmark = pytest.mark.django_db

KEY = "zr7-very-secret-key-4242"
NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(buyer):
    return make_world(buyer.url("zr7"), key=KEY)


def full_lead(world, **overrides):
    fields = {
        "civilite": "Mme",
        "nom": "Martin",
        "prenom": "Claire",
        "email": "claire@example.com",
        "phone": "0612345678",
        "departement": "75",
        "code_postal": "75011",
        "ville": "Paris",
        "adresse": "1 rue de la Paix",
        "type_logement": "maison",
        "statut_occupant": "proprietaire",
        "surface_habitable": "120",
        "annee_construction": "1985",
        "type_chauffage": "fioul",
        "facture_electricite": "150",
        "facture_chauffage": "200",
        "type_projet": "installation",
        "delai_projet": "3 mois",
        "budget": "15000",
        "utm_source": "facebook",
        "utm_medium": "cpc",
        "utm_campaign": "ete-2030",
        "quality_tier": "A",
        **overrides,
    }
    return world.lead(**fields)


# --- Payload and headers -------------------------------------------------------------------


def test_payload_follows_the_zr7_mdl_protocol_exactly(buyer, world):
    lead = full_lead(world)

    assert lead_deliver(lead_id=lead.pk) == "success"

    (received,) = buyer.requests
    assert received.method == "POST"
    assert received.path == "/zr7/lead/api/create_lead/"
    assert received.json == {
        "phone": "0612345678",
        "register_date": lead.register_date,
        "nom": "Martin",
        "prenom": "Claire",
        "email": "claire@example.com",
        "civilite": "Mme",
        "custom_fields": {
            "departement": {"value": "75"},
            "ville": {"value": "Paris"},
            "adresse": {"value": "1 rue de la Paix"},
            "type_logement": {"value": "maison"},
            "statut_occupant": {"value": "proprietaire"},
            "superficie_logement": {"value": "120"},
            "annee_construction": {"value": "1985"},
            "chauffage_actuel": {"value": "fioul"},
            "facture_electricite": {"value": "150"},
            "facture_chauffage": {"value": "200"},
            "type_projet": {"value": "installation"},
            "delai_projet": {"value": "3 mois"},
            "budget": {"value": "15000"},
            "product_type": {"value": "PV"},
            "lp_code": {"value": world.form.landing_page.code},
            "liaison_code": {"value": f"{world.form.landing_page.code}_{world.form.code}"},
            "utm_source": {"value": "facebook"},
            "utm_medium": {"value": "cpc"},
            "utm_campaign": {"value": "ete-2030"},
            "rgpd_consent_date": {
                "value": lead.consent_at.astimezone(UTC).isoformat(timespec="seconds")
            },
        },
    }


def test_empty_fields_and_civilite_are_left_out(buyer, world):
    lead = world.lead(
        civilite="",
        ville="",
        adresse="",
        surface_habitable="",
        type_chauffage="",
        utm_source="",
        utm_medium="",
        utm_campaign="",
    )

    lead_deliver(lead_id=lead.pk)

    body = buyer.requests[0].json
    assert "civilite" not in body
    assert set(body["custom_fields"]) == {
        "departement",
        "type_logement",
        "statut_occupant",
        "product_type",
        "lp_code",
        "liaison_code",
        "rgpd_consent_date",
    }
    assert all(set(v) == {"value"} for v in body["custom_fields"].values())


def test_a_lead_whose_consent_was_refused_is_never_sent(buyer, world):
    """Even set back to pending (an import, a hand edit): routing holds it."""
    lead = world.lead(rgpd_consent=False)

    lead_deliver(lead_id=lead.pk)

    assert buyer.requests == []
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NO_CONSENT
    assert "CONSENT_REFUSED" in lead.reasons
    assert not Delivery.objects.filter(lead=lead).exists()


def test_headers_carry_the_key_and_the_lead_id(buyer, world):
    lead = world.lead()

    lead_deliver(lead_id=lead.pk)

    headers = buyer.requests[0].headers
    assert headers["Authorization"] == KEY  # the bare key, no scheme
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == str(lead.pk)
    assert headers["X-Request-Id"] == str(lead.pk)


def test_deliveries_reuse_one_keep_alive_connection(buyer, world):
    first, second = world.lead(), world.lead()

    lead_deliver(lead_id=first.pk)
    lead_deliver(lead_id=second.pk)

    ports = {r.client_port for r in buyer.requests}
    assert len(buyer.requests) == 2 and len(ports) == 1


# --- Classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, body, outcome, lead_status, state",
    [
        (201, None, "success", Lead.Status.SUCCESS, Delivery.State.SUCCESS),
        (
            200,
            {"success": False, "message": "Lead en DOUBLON"},
            "duplicate",
            Lead.Status.DUPLICATE,
            Delivery.State.FAILED,
        ),
        (403, None, "auth_error", Lead.Status.AUTH_ERROR, Delivery.State.FAILED),
        (400, None, "validation_error", Lead.Status.VALIDATION_ERROR, Delivery.State.FAILED),
        (200, {"success": True}, "failed", Lead.Status.FAILED, Delivery.State.FAILED),
        (404, "<h1>Not found</h1>", "failed", Lead.Status.FAILED, Delivery.State.FAILED),
        (500, None, "transient", Lead.Status.QUEUED, Delivery.State.PENDING),
        (503, "<h1>Maintenance</h1>", "transient", Lead.Status.QUEUED, Delivery.State.PENDING),
    ],
)
def test_answers_are_classified(buyer, world, frozen, status, body, outcome, lead_status, state):
    buyer.answer(status, body)
    lead = world.lead()

    assert lead_deliver(lead_id=lead.pk) == outcome

    lead.refresh_from_db()
    delivery = Delivery.objects.get(pk=lead.pk)
    assert lead.status == lead_status
    assert delivery.state == state
    assert delivery.attempts == 1
    assert delivery.delivered_at == (NOW if outcome == "success" else None)
    attempt = delivery.attempt_log.get()
    assert attempt.outcome == outcome
    assert attempt.http_status == status
    assert attempt.crm == world.crm
    assert attempt.attempted_at == NOW
    assert attempt.duration_ms < 2000  # answered at once, on this machine's loopback
    assert attempt.response_excerpt == Answer(status, body).encoded_body().decode()
    assert attempt.error == ("" if outcome == "success" else f"HTTP {status}")
    assert len(buyer.requests) == 1


def test_the_attempt_records_how_long_the_buyer_took(buyer, world):
    buyer.answer(201, delay=0.3)
    lead = world.lead()

    assert lead_deliver(lead_id=lead.pk) == "success"

    attempt = DeliveryAttempt.objects.get(delivery_id=lead.pk)
    assert 300 <= attempt.duration_ms < 5000


def test_a_transient_failure_is_queued_for_a_minute(buyer, world, frozen):
    buyer.answer(500)
    lead = world.lead()

    lead_deliver(lead_id=lead.pk)

    delivery = Delivery.objects.get(pk=lead.pk)
    assert delivery.state == Delivery.State.PENDING
    assert delivery.last_error == "HTTP 500"
    wait = (delivery.next_attempt_at - NOW).total_seconds()
    assert 54 <= wait <= 66  # 1 min ± 10 % jitter


@pytest.mark.parametrize(
    "retry_after, expected",
    [("120", 120), ("100000", 7200)],  # honoured, up to the longest step of the ladder
)
def test_429_retry_after_is_honoured(buyer, world, frozen, retry_after, expected):
    buyer.answer(429, headers={"Retry-After": retry_after})
    lead = world.lead()

    assert lead_deliver(lead_id=lead.pk) == "transient"

    delivery = Delivery.objects.get(pk=lead.pk)
    assert delivery.next_attempt_at == NOW + timedelta(seconds=expected)
    assert delivery.attempt_log.get().http_status == 429
    lead.refresh_from_db()
    assert lead.status == Lead.Status.QUEUED


def test_429_with_a_short_retry_after_keeps_the_ladder(buyer, world, frozen):
    buyer.answer(429, headers={"Retry-After": "5"})
    lead = world.lead()

    lead_deliver(lead_id=lead.pk)

    wait = (Delivery.objects.get(pk=lead.pk).next_attempt_at - NOW).total_seconds()
    assert 54 <= wait <= 66


def test_a_buyer_hanging_past_the_read_timeout_is_transient(buyer, world, settings):
    settings.CRM_READ_TIMEOUT = 0.5
    buyer.answer(hang=True)
    lead = world.lead()

    assert lead_deliver(lead_id=lead.pk) == "transient"

    attempt = DeliveryAttempt.objects.get(delivery_id=lead.pk)
    assert attempt.http_status is None
    assert attempt.outcome == DeliveryAttempt.Outcome.TRANSIENT
    assert "ReadTimeout" in attempt.error
    assert 450 <= attempt.duration_ms < 5000
    lead.refresh_from_db()
    assert lead.status == Lead.Status.QUEUED
    assert len(buyer.requests) == 1  # it did reach the buyer


def test_a_refused_connection_is_transient(world):
    world.crm.api_url = refused_url("zr7")
    world.crm.save()
    lead = world.lead()

    assert lead_deliver(lead_id=lead.pk) == "transient"

    attempt = DeliveryAttempt.objects.get(delivery_id=lead.pk)
    assert attempt.http_status is None
    assert attempt.error.startswith("ConnectionError")
    assert Delivery.objects.get(pk=lead.pk).state == Delivery.State.PENDING


def test_a_redirect_is_a_failure_not_followed(buyer, world):
    """A 302 (a moved endpoint, a login page) is "anything else": failed. The
    POST must not be replayed as a GET somewhere else, whose answer would
    then be classified instead."""
    buyer.answer(302, "", headers={"Location": "/login/"}, times=1)
    buyer.answer(200, "<html>login</html>")
    lead = world.lead()

    assert lead_deliver(lead_id=lead.pk) == "failed"

    attempt = DeliveryAttempt.objects.get(delivery_id=lead.pk)
    assert attempt.http_status == 302
    assert [r.method for r in buyer.requests] == ["POST"]
    lead.refresh_from_db()
    assert lead.status == Lead.Status.FAILED


def test_classify_table():
    assert classify(201, "") == "success"
    assert classify(200, '{"message": "Doublon détecté"}') == "duplicate"
    assert classify(200, "ok") == "failed"
    assert classify(403, "") == "auth_error"
    assert classify(400, "") == "validation_error"
    assert classify(401, "") == "failed"
    assert classify(429, "") == "transient"
    assert classify(500, "") == "transient"
    assert classify(502, "") == "transient"
    assert classify(302, "") == "failed"
    assert classify(404, "") == "failed"


def test_every_attempt_is_recorded(buyer, world, frozen):
    buyer.answer(500, times=1)
    lead = world.lead()

    lead_deliver(lead_id=lead.pk)
    frozen.shift(timedelta(minutes=2))
    lead_deliver(lead_id=lead.pk)

    attempts = list(DeliveryAttempt.objects.filter(delivery_id=lead.pk))
    assert [(a.http_status, a.outcome) for a in attempts] == [(500, "transient"), (201, "success")]
    assert [a.attempted_at for a in attempts] == [NOW, NOW + timedelta(minutes=2)]
    assert Delivery.objects.get(pk=lead.pk).attempts == 2


# --- Secrets ------------------------------------------------------------------------------------


def test_the_api_key_is_never_logged_nor_stored(buyer, world, settings, caplog):
    """Whatever the buyer answers, even an error page that echoes the key back,
    the key appears neither in any log record nor in what we store and show."""
    settings.CRM_READ_TIMEOUT = 0.5
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)

    buyer.answer(201, times=1)
    buyer.answer(403, {"success": False, "message": f"Invalid API key {KEY}"}, times=1)
    buyer.answer(500, f"<pre>Authorization: {KEY}</pre>", times=1)
    buyer.answer(hang=True, times=1)
    buyer.answer(200, {"message": f"doublon for {KEY}"}, times=1)
    leads = [world.lead() for _ in range(5)]
    for lead in leads:
        lead_deliver(lead_id=lead.pk)
    world.crm.api_url = refused_url("zr7")
    world.crm.save()
    refused = world.lead()
    lead_deliver(lead_id=refused.pk)

    assert [r.headers["Authorization"] for r in buyer.requests] == [KEY] * 5  # it was sent
    assert caplog.records, "the delivery logs something"
    for record in caplog.records:
        assert KEY not in record.getMessage(), record.name
    assert KEY not in caplog.text
    for attempt in DeliveryAttempt.objects.all():
        assert KEY not in attempt.response_excerpt
        assert KEY not in attempt.error
    for delivery in Delivery.objects.all():
        assert KEY not in delivery.last_error
    # The echoed answers are still recorded, the key masked out.
    excerpt = DeliveryAttempt.objects.get(delivery_id=leads[1].pk).response_excerpt
    assert "Invalid API key" in excerpt


# --- The environment's proxy settings ----------------------------------------------------------


@pytest.fixture
def fresh_session(monkeypatch):
    """A new keep-alive session for this thread, so the environment set by the
    test is the one it reads."""
    monkeypatch.delattr(delivery_module._local, "session", raising=False)
    yield
    monkeypatch.delattr(delivery_module._local, "session", raising=False)


@pytest.mark.parametrize(("no_proxy", "outcome"), [("", "transient"), ("127.0.0.1", "success")])
def test_the_environment_s_proxy_and_no_proxy_still_apply(
    buyer, world, monkeypatch, fresh_session, no_proxy, outcome
):
    """They are read once per buyer URL, not per POST, but still honoured:
    through a proxy that refuses the connection, unless NO_PROXY names the
    buyer's host."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{urlsplit(refused_url()).netloc}")
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    leads = [world.lead(), world.lead()]

    assert [lead_deliver(lead_id=lead.pk) for lead in leads] == [outcome, outcome]
    assert len(buyer.requests) == (2 if outcome == "success" else 0)
