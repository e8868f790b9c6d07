"""Protection of the public API (SPEC §2, §11): rate limits that fail open,
client IP behind proxies, CORS allow-list, no CSRF, 503 on database outage."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test import Client, override_settings

from enersolar.http import PublicRateThrottle, _trusted_networks
from enersolar.tests.factories import UserFactory
from enersolar.tests.helpers import public_client, unique_ip
from leads.models import Lead
from tracking.models import VisitorSession
from tracking.tests.factories import FormFactory, VisitorSessionFactory

LEADS_URL = "/api/public/leads"
SESSION_URL = "/api/public/track/session"
PARTNER_URL = "/api/v1/leads"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db

PHONES = ["0612345678", "0698765432", "0687654321", "0676543210", "0665432109", "0654321098"]


@pytest.fixture
def form():
    return FormFactory()


@pytest.fixture
def session(form):
    return VisitorSessionFactory(form=form)


def lead_body(session, form, phone=PHONES[0], **overrides):
    body = {
        "session_id": str(session.pk),
        "form_code": form.code,
        "phone": phone,
        "nom": "Durand",
        "departement": "33",
    }
    body.update(overrides)
    return body


def assert_json_error(response, status_code):
    assert response.status_code == status_code, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["success"] is False
    assert response.json()["error"]


# --- Rate limits -----------------------------------------------------------------


@pytest.fixture
def three_per_minute(monkeypatch):
    """DRF reads the rates into the throttle class when it is imported, so the
    class attribute is what a test can change. Every test posts from its own
    IP (public_client), so counters of other tests never interfere."""
    monkeypatch.setattr(
        PublicRateThrottle,
        "THROTTLE_RATES",
        {"public_tracking": "3/min", "public_leads": "3/min", "partner": "3/min"},
    )


def test_leads_over_the_limit_answer_429_json(three_per_minute, form, session):
    client = public_client()
    answers = [
        client.post(LEADS_URL, lead_body(session, form, phone), format="json").status_code
        for phone in PHONES[:4]
    ]

    assert answers == [200, 200, 200, 429]
    response = client.post(LEADS_URL, lead_body(session, form, PHONES[4]), format="json")
    assert_json_error(response, 429)
    assert int(response["Retry-After"]) > 0
    assert Lead.objects.count() == 3


def test_tracking_over_the_limit_answers_429_json(three_per_minute):
    client = public_client()
    answers = [client.post(SESSION_URL, {}, format="json").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert_json_error(client.post(SESSION_URL, {}, format="json"), 429)


def test_the_limit_is_per_client_ip(three_per_minute):
    first, second = public_client(), public_client()
    for _ in range(3):
        first.post(SESSION_URL, {}, format="json")
    assert first.post(SESSION_URL, {}, format="json").status_code == 429
    assert second.post(SESSION_URL, {}, format="json").status_code == 200


def test_the_limit_resets_after_the_period(three_per_minute):
    client = public_client()
    with time_machine.travel(T0, tick=False) as traveller:
        for _ in range(3):
            client.post(SESSION_URL, {}, format="json")
        assert client.post(SESSION_URL, {}, format="json").status_code == 429
        traveller.shift(timedelta(seconds=61))
        assert client.post(SESSION_URL, {}, format="json").status_code == 200


def test_public_config_is_rate_limited(three_per_minute, form):
    client = public_client()
    answers = [client.get("/api/forms/config/departements").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    assert_json_error(client.get(f"/api/forms/public/{form.code}"), 429)


def test_partner_api_is_rate_limited(three_per_minute, form):
    from enersolar.services import api_key_create

    _, raw = api_key_create(account=form.account, name="partner")
    client = public_client(HTTP_X_API_KEY=raw)
    answers = [
        client.post(
            PARTNER_URL, {"form_code": form.code, "phone": p, "nom": "X"}, format="json"
        ).status_code
        for p in PHONES[:4]
    ]
    assert answers == [200, 200, 200, 429]


BROKEN_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
    }
}


@override_settings(CACHES=BROKEN_CACHE)
def test_rate_limit_fails_open_when_the_cache_is_down(form, session):
    with pytest.raises(Exception):  # noqa: B017 - any client error proves the outage
        cache.get("probe")

    response = public_client().post(LEADS_URL, lead_body(session, form), format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert Lead.objects.filter(pk=response.json()["lead_id"]).exists()


@override_settings(CACHES=BROKEN_CACHE)
def test_tracking_fails_open_when_the_cache_is_down(form):
    response = public_client().post(SESSION_URL, {"lp_code": form.landing_page.code}, format="json")
    assert response.status_code == 200
    assert VisitorSession.objects.filter(pk=response.json()["session_id"]).exists()


# --- Body size limit -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [LEADS_URL, SESSION_URL, "/api/public/track/lp-visit", "/api/public/track/event", PARTNER_URL],
)
def test_every_public_endpoint_refuses_a_body_over_the_limit(settings, url):
    body = json.dumps({"referrer": "x" * settings.PUBLIC_MAX_BODY_BYTES})
    response = public_client().generic("POST", url, body, content_type="text/plain")
    assert_json_error(response, 413)
    assert not VisitorSession.objects.exists()


# --- Client IP ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_trusted_networks():
    """The parsed TRUSTED_PROXIES are cached: re-read them around each test."""
    _trusted_networks.cache_clear()
    yield
    _trusted_networks.cache_clear()


@pytest.fixture
def trusted_proxies(settings):
    # unique_ip() hands out 10.0.0.0/8 visitors: our proxies live elsewhere.
    settings.TRUSTED_PROXIES = ["172.16.0.0/12", "2001:db8::/32"]


def stored_ip(remote_addr, forwarded=None) -> str:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    response = Client(REMOTE_ADDR=remote_addr).post(
        SESSION_URL, {}, content_type="application/json", **extra
    )
    assert response.status_code == 200
    return VisitorSession.objects.get(pk=response.json()["session_id"]).ip


def test_x_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = []
    assert stored_ip("172.16.2.3", "203.0.113.9") == "172.16.2.3"


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(trusted_proxies):
    assert stored_ip("192.0.2.10", "203.0.113.9") == "192.0.2.10"


def test_x_forwarded_for_from_a_trusted_proxy_gives_the_client(trusted_proxies):
    assert stored_ip("172.16.2.3", "203.0.113.9") == "203.0.113.9"


def test_the_right_most_untrusted_hop_is_the_client(trusted_proxies):
    # The visitor can forge anything left of what our proxies appended.
    assert stored_ip("172.16.2.3", "198.51.100.66, 203.0.113.9") == "203.0.113.9"
    assert stored_ip("172.16.2.3", "198.51.100.66, 203.0.113.9, 172.20.9.9") == "203.0.113.9"
    assert stored_ip("172.16.2.3", "2a01:e0a:1::7, 2001:db8::5") == "2a01:e0a:1::7"


def test_ipv6_proxy_and_client(trusted_proxies):
    assert stored_ip("2001:db8::1", "2a01:e0a:1::7") == "2a01:e0a:1::7"


def test_only_proxies_in_the_chain_gives_the_peer(trusted_proxies):
    assert stored_ip("172.16.2.3", "172.16.5.6, 172.17.8.9") == "172.16.2.3"


def test_garbage_in_x_forwarded_for_falls_back_to_the_peer(trusted_proxies):
    assert stored_ip("172.16.2.3", "unknown") == "172.16.2.3"
    assert stored_ip("172.16.2.3", "") == "172.16.2.3"


def test_lead_ip_behind_a_trusted_proxy(trusted_proxies, form, session):
    client = Client(REMOTE_ADDR="172.16.2.3")
    response = client.post(
        LEADS_URL,
        lead_body(session, form),
        content_type="application/json",
        HTTP_X_FORWARDED_FOR="203.0.113.77",
    )
    assert Lead.objects.get(pk=response.json()["lead_id"]).ip == "203.0.113.77"


def test_rate_limit_counts_per_visitor_behind_the_proxy(trusted_proxies, three_per_minute):
    proxy = Client(REMOTE_ADDR="172.16.2.3")
    first, second = unique_ip(), unique_ip()

    def post(ip):
        return proxy.post(
            SESSION_URL, {}, content_type="application/json", HTTP_X_FORWARDED_FOR=ip
        ).status_code

    assert [post(first) for _ in range(4)] == [200, 200, 200, 429]
    assert post(second) == 200


def test_a_forged_x_forwarded_for_does_not_dodge_the_rate_limit(three_per_minute, settings):
    settings.TRUSTED_PROXIES = []
    client = Client(REMOTE_ADDR=unique_ip())
    answers = [
        client.post(
            SESSION_URL, {}, content_type="application/json", HTTP_X_FORWARDED_FOR=unique_ip()
        ).status_code
        for _ in range(4)
    ]
    assert answers == [200, 200, 200, 429]


# --- CORS ----------------------------------------------------------------------------

LP_ORIGIN = "https://lp.example.com"


@override_settings(CORS_ALLOWED_ORIGINS=[LP_ORIGIN])
def test_an_allowed_origin_gets_the_cors_header():
    response = public_client().post(SESSION_URL, {}, format="json", HTTP_ORIGIN=LP_ORIGIN)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == LP_ORIGIN


@override_settings(CORS_ALLOWED_ORIGINS=[LP_ORIGIN])
def test_preflight_from_an_allowed_origin():
    response = public_client().options(
        LEADS_URL,
        HTTP_ORIGIN=LP_ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == LP_ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "content-type" in response["Access-Control-Allow-Headers"].lower()


@override_settings(CORS_ALLOWED_ORIGINS=[LP_ORIGIN])
def test_an_unknown_origin_gets_no_cors_header():
    response = public_client().post(
        SESSION_URL, {}, format="json", HTTP_ORIGIN="https://evil.example.net"
    )
    assert "Access-Control-Allow-Origin" not in response
    preflight = public_client().options(
        SESSION_URL,
        HTTP_ORIGIN="https://evil.example.net",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in preflight


@override_settings(CORS_ALLOWED_ORIGINS=[LP_ORIGIN])
def test_public_config_answers_cors(form):
    response = public_client().get(f"/api/forms/public/{form.code}", HTTP_ORIGIN=LP_ORIGIN)
    assert response["Access-Control-Allow-Origin"] == LP_ORIGIN


@override_settings(CORS_ALLOWED_ORIGINS=[LP_ORIGIN])
def test_the_admin_gets_no_cors_header():
    client = Client()
    assert "Access-Control-Allow-Origin" not in client.get("/admin/login/", HTTP_ORIGIN=LP_ORIGIN)
    preflight = client.options(
        "/admin/login/", HTTP_ORIGIN=LP_ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    assert "Access-Control-Allow-Origin" not in preflight


# --- CSRF ------------------------------------------------------------------------------


@pytest.fixture
def logged_in_csrf_client():
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=unique_ip())
    client.force_login(UserFactory(is_superuser=True))
    return client


def test_csrf_is_enforced_by_this_client_elsewhere(logged_in_csrf_client):
    # Control: the same client is refused by a CSRF-protected view.
    assert logged_in_csrf_client.post("/admin/logout/").status_code == 403


def test_public_lead_with_a_session_cookie_and_no_csrf_token(logged_in_csrf_client, form, session):
    response = logged_in_csrf_client.post(
        LEADS_URL, lead_body(session, form), content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "pending"


def test_tracking_with_a_session_cookie_and_no_csrf_token(logged_in_csrf_client, session):
    assert (
        logged_in_csrf_client.post(SESSION_URL, {}, content_type="application/json").status_code
        == 200
    )
    event = logged_in_csrf_client.post(
        "/api/public/track/event",
        {"session_id": str(session.pk), "event_type": "cta_click"},
        content_type="application/json",
    )
    assert event.status_code == 200


# --- Database unavailable ------------------------------------------------------------------


def failing(table: str, verb: str):
    """A real execute wrapper (Django's hook around every query) that fails
    like a database going away on one kind of statement."""

    def wrapper(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(verb) and table in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    return wrapper


def test_database_down_at_insert_answers_503_and_writes_nothing(form, session):
    client = public_client()
    with connection.execute_wrapper(failing("leads_lead", "INSERT")):
        response = client.post(LEADS_URL, lead_body(session, form), format="json")

    assert_json_error(response, 503)
    assert response["Retry-After"]
    assert not Lead.objects.exists()
    session.refresh_from_db()
    assert session.status == VisitorSession.Status.ACTIVE


def test_a_failure_after_the_insert_rolls_the_lead_back(form, session):
    client = public_client()
    with connection.execute_wrapper(failing("tracking_visitorsession", "UPDATE")):
        response = client.post(LEADS_URL, lead_body(session, form), format="json")

    assert_json_error(response, 503)
    assert not Lead.objects.exists()  # nothing half-written
    session.refresh_from_db()
    assert session.status == VisitorSession.Status.ACTIVE


# Outside any transaction, as in production (a session insert runs in
# autocommit): inside the test's transaction the failed query would mark it
# for rollback and the assertions below could not read the database.
@pytest.mark.django_db(transaction=True)
def test_database_down_on_tracking_answers_503():
    with connection.execute_wrapper(failing("tracking_visitorsession", "INSERT")):
        response = public_client().post(SESSION_URL, {}, format="json")
    assert_json_error(response, 503)
    assert not VisitorSession.objects.exists()


def test_the_lead_is_accepted_once_the_database_is_back(form, session):
    client = public_client()
    with connection.execute_wrapper(failing("leads_lead", "INSERT")):
        assert client.post(LEADS_URL, lead_body(session, form), format="json").status_code == 503
    response = client.post(LEADS_URL, lead_body(session, form), format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "pending"  # the failed try left no trace
