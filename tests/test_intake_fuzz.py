"""Property-based test of the public and partner endpoints (issue 12, point 5):
whatever the body, never a 5xx, and every body accepted is stored.

Bodies are drawn by Hypothesis: JSON objects whose values are anything JSON
can carry (text with control characters, NUL, emoji, lone surrogates, huge and
non-finite numbers, nested lists and objects), most with the fields a lead or a
session needs, some encoded as invalid UTF-8 or not JSON at all. Bounded
(max_examples per endpoint) so that it runs in CI in well under a minute."""

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enersolar.http import PublicJSONParser, public_json_loads
from enersolar.services import api_key_create
from enersolar.tests.helpers import public_client
from leads.cleaning import KNOWN_FIELDS
from leads.models import Lead
from tracking.models import TrackingEvent, VisitorSession
from tracking.tests.factories import FormFactory, VisitorSessionFactory

pytestmark = pytest.mark.django_db

EXAMPLES = 200
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI stays reproducible
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# Every code point, surrogates too (JSON can escape them; UTF-8 cannot carry them).
any_char = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None)
text = st.one_of(
    st.text(any_char, max_size=40),
    st.text(max_size=300),
    st.sampled_from(["", " ", "oui", "non", "on", "off", "0612345678", "PV-001", "75", "\x00"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**200),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
field_names = st.one_of(st.sampled_from(sorted(KNOWN_FIELDS)), text)


@st.composite
def bodies(draw, required: dict):
    """A body: mostly an object with the required fields (each may be dropped
    or replaced), the known fields and others, with any values."""
    body = draw(st.dictionaries(field_names, values, max_size=12))
    for name, default in required.items():
        choice = draw(st.sampled_from(["valid", "valid", "valid", "any", "absent"]))
        if choice == "valid":
            body[name] = draw(default)
        elif choice == "any":
            body[name] = draw(values)
        else:
            body.pop(name, None)
    encoding = draw(st.sampled_from(["json", "json", "ascii-json", "not-an-object", "bytes"]))
    if encoding == "not-an-object":
        return json.dumps(draw(values)).encode("utf-8", "surrogatepass")
    if encoding == "bytes":
        return draw(st.binary(max_size=200))
    text_body = json.dumps(body, ensure_ascii=encoding == "ascii-json")
    # Lone surrogates cannot be UTF-8: as a browser would never send them raw,
    # they make an invalid-UTF-8 body (a 400), escaped they are fine.
    return text_body.encode("utf-8", "surrogatepass")


def parsed(raw: bytes):
    """The body as the API reads it, or None when the API must refuse it."""
    try:
        return public_json_loads(raw.decode("utf-8"))
    except Exception:  # noqa: BLE001 - any refusal: the API answers 400
        return None


def post(path, raw: bytes, **headers):
    return public_client().generic("POST", path, raw, content_type="application/json", **headers)


def assert_no_server_error(response):
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]


@pytest.fixture
def world():
    form = FormFactory()
    session = VisitorSessionFactory(form=form)
    _key, raw_key = api_key_create(account=form.account, name="fuzz")
    return form, session, raw_key


def assert_lead_stored(response, raw: bytes, leads_before: int):
    """An accepted body is a new lead holding it, or the answer to a retry of
    one already stored (same Idempotency-Key)."""
    if response.status_code != 200:
        assert Lead.objects.count() == leads_before
        return
    body = parsed(raw)
    assert isinstance(body, dict)
    if response.get("Idempotent-Replayed"):
        assert Lead.objects.count() == leads_before
        return
    assert Lead.objects.count() == leads_before + 1
    # The answer names the original lead of a double submit: read the new row.
    lead = Lead.objects.order_by("-created_at", "-pk").first()
    assert set(lead.raw_payload) == set(body)
    assert lead.status in Lead.Status.values


def test_public_lead_intake_never_fails_and_stores_what_it_accepts(world):
    form, session, _key = world
    required = {
        "session_id": st.sampled_from([str(session.pk), str(uuid.uuid4()), "x"]),
        "form_code": st.sampled_from([form.code, "PV-999", str(form.pk)]),
        "phone": st.sampled_from(["0612345678", "+33 6 12 34 56 79", "123"]),
    }

    @FUZZ
    @given(raw=bodies(required), key=st.none() | st.text(any_char, max_size=120))
    def check(raw, key):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        before = Lead.objects.count()
        response = post("/api/public/leads", raw, **headers)
        assert_no_server_error(response)
        assert_lead_stored(response, raw, before)

    check()


def test_partner_lead_intake_never_fails_and_stores_what_it_accepts(world):
    form, _session, raw_key = world
    required = {
        "form_code": st.sampled_from([form.code, "PV-999"]),
        "product_type": st.sampled_from(["PV", "XX"]),
        "phone": st.sampled_from(["0612345678", "0033612345679", ""]),
    }

    @FUZZ
    @given(raw=bodies(required))
    def check(raw):
        before = Lead.objects.count()
        response = post("/api/v1/leads", raw, HTTP_AUTHORIZATION=f"Token {raw_key}")
        assert_no_server_error(response)
        assert_lead_stored(response, raw, before)
        if response.status_code == 200:
            assert isinstance(response.json()["fields"], dict)  # per field, what was done

    check()


def test_tracking_endpoints_never_fail_and_store_what_they_accept(world):
    form, session, _key = world
    session_ids = st.sampled_from([str(session.pk), str(uuid.uuid4()), "nope"])
    cases = [
        ("/api/public/track/session", {"lp_code": st.just(form.landing_page.code)}),
        ("/api/public/track/lp-visit", {"session_id": session_ids}),
        (
            "/api/public/track/event",
            {"session_id": session_ids, "event_type": st.sampled_from(["form_step", "x"])},
        ),
    ]

    @FUZZ
    @given(case=st.sampled_from(cases), data=st.data())
    def check(case, data):
        path, required = case
        raw = data.draw(bodies(required))
        response = post(path, raw)
        assert_no_server_error(response)
        if response.status_code == 200:
            answer = response.json()
            if "event_id" in answer:
                assert TrackingEvent.objects.filter(pk=answer["event_id"]).exists()
            if path.endswith("/session"):
                assert VisitorSession.objects.filter(pk=answer["session_id"]).exists()

    check()


def test_the_parser_is_the_one_the_endpoints_use():
    """The test's idea of "accepted" is the API's own parser."""
    from leads.apis import PublicLeadApi

    assert PublicJSONParser in PublicLeadApi.parser_classes
