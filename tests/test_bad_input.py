"""Bad input gets a clear 4xx, never a 5xx, never an outage answer (issue 12,
point 5): deep nesting, NUL and control characters, invalid UTF-8, huge
numbers, a visitor id no cookie can carry, forged log lines, unknown paths."""

import json
import logging
import uuid

import pytest

from enersolar.tests.helpers import public_client
from leads.models import Lead
from tracking.models import TrackingEvent
from tracking.tests.factories import FormFactory, VisitorSessionFactory

pytestmark = pytest.mark.django_db

PUBLIC_POSTS = [
    "/api/public/leads",
    "/api/public/track/session",
    "/api/public/track/lp-visit",
    "/api/public/track/event",
    "/api/v1/leads",
]


@pytest.fixture
def partner_key():
    """Calls to the partner API carry a valid key: the body is what is tested."""
    from enersolar.services import api_key_create

    _key, raw = api_key_create(account=FormFactory().account, name="partner")
    return raw


def post_raw(path, body: bytes | str, content_type="application/json", key=None):
    extra = {"HTTP_AUTHORIZATION": f"Token {key}"} if key and path.startswith("/api/v1/") else {}
    return public_client().generic("POST", path, body, content_type=content_type, **extra)


def assert_json_error(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["error"]
    return body["error"]


@pytest.fixture
def session():
    return VisitorSessionFactory(form=FormFactory())


def lead_body(session, **values):
    return {
        "session_id": str(session.pk),
        "form_code": session.form.code,
        "phone": "0612345678",
        "nom": "Martin",
        "departement": "75",
        **values,
    }


@pytest.mark.parametrize("path", PUBLIC_POSTS)
@pytest.mark.parametrize("depth", [40, 5000, 100_000])
def test_deep_nesting_is_a_400(path, depth, partner_key):
    body = '{"data": ' + "[" * depth + "]" * depth + "}"
    over_the_limit = len(body) > 32 * 1024  # refused before parsing
    response = post_raw(path, body, key=partner_key)
    error = assert_json_error(response, 413 if over_the_limit else 400)
    assert ("trop volumineux" if over_the_limit else "plus de 32 niveaux") in error
    assert response.json()["code"] == ("body_too_large" if over_the_limit else "json_too_deep")


@pytest.mark.parametrize("path", PUBLIC_POSTS)
def test_invalid_utf8_is_a_400(path, partner_key):
    error = assert_json_error(post_raw(path, b'{"nom": "Du\xffpont"}', key=partner_key), 400)
    assert "UTF-8" in error


def test_a_nul_in_event_data_is_stored_replaced_never_a_503(session):
    body = {"session_id": str(session.pk), "event_type": "form_step", "data": {"k\x00": "a\x00b"}}
    response = public_client().post("/api/public/track/event", body, format="json")
    assert response.status_code == 200, response.content
    event = TrackingEvent.objects.get(pk=response.json()["event_id"])
    assert event.data == {"k\ufffd": "a\ufffdb"}


def test_nul_and_lone_surrogates_in_a_lead_are_stored(session):
    body = json.dumps(lead_body(session, prenom="Ma\x00rie", ville="\ud800Paris", x="\udfff"))
    response = post_raw("/api/public/leads", body)
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert (lead.prenom, lead.ville) == ("Ma rie", "Paris")
    assert lead.raw_payload["ville"] == "\ufffdParis"
    assert lead.raw_payload["x"] == "\ufffd"


@pytest.mark.parametrize("path", ["/api/public/track/ev\x00ent", "/api/forms/public/PV\x00-001"])
def test_a_control_character_in_an_api_path_is_a_400(path):
    assert_json_error(public_client().get(path), 400)
    assert_json_error(public_client().post(path, {}, format="json"), 400)


def test_huge_numbers_are_kept_as_their_digits(session):
    digits = "9" * 5000
    body = json.dumps(lead_body(session)).rstrip("}") + f', "budget": {digits}, "surface": 1e400}}'
    response = post_raw("/api/public/leads", body)
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.budget == "9" * 50  # cut to its column, noted
    assert "VALUE_CUT:budget" in lead.reasons
    assert lead.raw_payload["budget"] == digits
    assert lead.raw_payload["surface"] == "1e400"


def test_nan_and_infinity_are_kept_as_text(session):
    body = json.dumps(lead_body(session)).rstrip("}") + ', "budget": NaN, "x": -Infinity}'
    response = post_raw("/api/public/leads", body)
    assert response.status_code == 200, response.content
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.budget == "NaN"
    assert lead.raw_payload["x"] == "-Infinity"


@pytest.mark.parametrize("visitor_id", ["😀", "a b", "x;y=1", "é", "\r\nSet-Cookie: x"])
def test_a_visitor_id_no_cookie_can_carry_is_replaced(visitor_id):
    form = FormFactory()
    response = public_client().post(
        "/api/public/track/session",
        {"lp_code": form.landing_page.code, "visitor_id": visitor_id},
        format="json",
    )
    assert response.status_code == 200, response.content
    given = response.json()["visitor_id"]
    assert str(uuid.UUID(given)) == given
    assert response.cookies["_rdz_vid"].value == given


def test_a_bad_visitor_cookie_is_replaced_too():
    form = FormFactory()
    client = public_client()
    client.cookies["_rdz_vid"] = "bad value"
    response = client.post(
        "/api/public/track/session", {"lp_code": form.landing_page.code}, format="json"
    )
    given = response.json()["visitor_id"]
    assert str(uuid.UUID(given)) == given


def test_a_form_code_with_a_newline_writes_one_log_line():
    """The console handler as settings.LOGGING configures it."""
    (console,) = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    forged = "PV-001\n2026-01-01 level=ERROR logger=x forged\r\x00"
    record = logging.LogRecord(
        "leads.services", logging.INFO, __file__, 1, "lead received form=%s", (forged,), None
    )
    assert console.filter(record)
    line = console.format(record)
    assert "\n" not in line and "\r" not in line and "\x00" not in line
    assert line.endswith("form=PV-001\\n2026-01-01 level=ERROR logger=x forged\\r\\x00")


@pytest.mark.parametrize("path", ["/api/nothing", "/api/public/nope", "/api/v1/leads/extra"])
def test_unknown_api_paths_answer_a_json_404(path):
    assert_json_error(public_client().get(path), 404)


def test_other_paths_keep_the_html_404(client):
    response = client.get("/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/public/leads", "/api/public/track/session"])
def test_a_wrong_method_answers_a_json_405(path):
    assert_json_error(public_client().get(path), 405)
    assert_json_error(public_client().put(path, {}, format="json"), 405)
