"""Public tracking API (SPEC §2): sessions, the LP visit beacon, events."""

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from enersolar.tests.helpers import public_client
from tracking.apis import VISITOR_COOKIE, VISITOR_COOKIE_MAX_AGE
from tracking.models import TrackingEvent, VisitorSession
from tracking.services import event_record
from tracking.tests.factories import FormFactory, LandingPageFactory, VisitorSessionFactory

SESSION_URL = "/api/public/track/session"
LP_VISIT_URL = "/api/public/track/lp-visit"
EVENT_URL = "/api/public/track/event"

pytestmark = pytest.mark.django_db


def post_json(client, url, body, **extra):
    return client.post(url, body, format="json", **extra)


def post_raw(client, url, body, content_type, **extra):
    """A body as browsers send it: sendBeacon labels JSON `text/plain`, some
    old scripts send no Content-Type at all (content_type="")."""
    return client.generic("POST", url, body, content_type=content_type, **extra)


def assert_json_error(response, status_code):
    assert response.status_code == status_code, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["error"], str) and body["error"]
    return body


@pytest.fixture
def form():
    return FormFactory()


@pytest.fixture
def client():
    return public_client()


# --- POST /api/public/track/session ----------------------------------------------


def test_session_opened_with_lp_and_form(client, form):
    lp_code = form.landing_page.code
    response = post_json(client, SESSION_URL, {"lp_code": lp_code, "form_code": form.code})

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["lp_code"] == lp_code
    assert body["form_code"] == form.code
    assert body["reused"] is False
    session = VisitorSession.objects.get(pk=body["session_id"])
    assert session.visitor_id == body["visitor_id"]
    assert session.landing_page == form.landing_page
    assert session.form == form
    assert session.account == form.account
    assert session.liaison_code == f"{lp_code}_{form.code}"
    assert session.status == VisitorSession.Status.ACTIVE
    assert session.created_at is not None


def test_lp_code_without_form_code_takes_the_lps_linked_form(client, form):
    lp_code = form.landing_page.code
    response = post_json(client, SESSION_URL, {"lp_code": lp_code})

    body = response.json()
    assert body["form_code"] == form.code
    session = VisitorSession.objects.get(pk=body["session_id"])
    assert session.form == form
    assert session.liaison_code == f"{lp_code}_{form.code}"


def test_a_given_liaison_code_is_kept(client, form):
    response = post_json(
        client,
        SESSION_URL,
        {"lp_code": form.landing_page.code, "liaison_code": "LP-999_PV-999"},
    )
    session = VisitorSession.objects.get(pk=response.json()["session_id"])
    assert session.liaison_code == "LP-999_PV-999"


def test_unknown_lp_code_still_opens_a_session(client):
    response = post_json(client, SESSION_URL, {"lp_code": "LP-404"})

    assert response.status_code == 200
    session = VisitorSession.objects.get(pk=response.json()["session_id"])
    assert session.lp_code == "LP-404"
    assert session.landing_page is None
    assert session.form is None
    assert session.liaison_code == ""


def test_visitor_id_from_the_body_wins_over_the_cookie(client, form):
    client.cookies[VISITOR_COOKIE] = "cookie-visitor"
    response = post_json(
        client, SESSION_URL, {"lp_code": form.landing_page.code, "visitor_id": "body-visitor"}
    )

    assert response.json()["visitor_id"] == "body-visitor"
    session = VisitorSession.objects.get(pk=response.json()["session_id"])
    assert session.visitor_id == "body-visitor"
    # The cookie follows the id the script keeps.
    assert response.cookies[VISITOR_COOKIE].value == "body-visitor"


def test_visitor_id_from_the_cookie_when_the_body_has_none(client, form):
    client.cookies[VISITOR_COOKIE] = "cookie-visitor"
    response = post_json(client, SESSION_URL, {"lp_code": form.landing_page.code})

    assert response.json()["visitor_id"] == "cookie-visitor"
    session = VisitorSession.objects.get(pk=response.json()["session_id"])
    assert session.visitor_id == "cookie-visitor"


def test_new_visitor_gets_a_uuid_and_the_cookie(client, form):
    response = post_json(client, SESSION_URL, {"lp_code": form.landing_page.code})

    visitor_id = response.json()["visitor_id"]
    assert str(uuid.UUID(visitor_id)) == visitor_id
    cookie = response.cookies[VISITOR_COOKIE]
    assert cookie.value == visitor_id
    assert int(cookie["max-age"]) == VISITOR_COOKIE_MAX_AGE == 365 * 24 * 3600
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_two_new_visitors_get_different_ids(form):
    ids = {
        post_json(public_client(), SESSION_URL, {"lp_code": form.landing_page.code}).json()[
            "visitor_id"
        ]
        for _ in range(2)
    }
    assert len(ids) == 2


def test_same_visitor_same_lp_within_30_minutes_reuses_the_session(client, form):
    body = {"lp_code": form.landing_page.code, "visitor_id": "v-1"}
    with time_machine.travel(datetime(2025, 3, 1, 10, 0, tzinfo=UTC), tick=False) as traveller:
        first = post_json(client, SESSION_URL, body).json()
        traveller.shift(timedelta(minutes=29))
        second = post_json(client, SESSION_URL, body).json()

    assert second["session_id"] == first["session_id"]
    assert second["reused"] is True
    assert VisitorSession.objects.filter(visitor_id="v-1").count() == 1


def test_after_30_minutes_a_new_session_is_opened(client, form):
    body = {"lp_code": form.landing_page.code, "visitor_id": "v-1"}
    with time_machine.travel(datetime(2025, 3, 1, 10, 0, tzinfo=UTC), tick=False) as traveller:
        first = post_json(client, SESSION_URL, body).json()
        traveller.shift(timedelta(minutes=31))
        second = post_json(client, SESSION_URL, body).json()

    assert second["session_id"] != first["session_id"]
    assert second["reused"] is False
    assert VisitorSession.objects.filter(visitor_id="v-1").count() == 2


def test_no_reuse_for_another_visitor_or_another_lp(client, form):
    other_form = FormFactory()
    first = post_json(client, SESSION_URL, {"lp_code": form.landing_page.code, "visitor_id": "a"})
    other_visitor = post_json(
        client, SESSION_URL, {"lp_code": form.landing_page.code, "visitor_id": "b"}
    )
    other_lp = post_json(
        client, SESSION_URL, {"lp_code": other_form.landing_page.code, "visitor_id": "a"}
    )

    ids = {r.json()["session_id"] for r in (first, other_visitor, other_lp)}
    assert len(ids) == 3


def test_session_stores_attribution_referrer_user_agent_and_ip(form):
    client = public_client(ip="203.0.113.7")
    attribution = {
        "utm_source": "facebook",
        "utm_medium": "cpc",
        "utm_campaign": "spring",
        "utm_content": "video",
        "utm_term": "solaire",
        "gclid": "G-123",
        "fbclid": "FB-456",
    }
    response = post_json(
        client,
        SESSION_URL,
        {"lp_code": form.landing_page.code, "referrer": "https://www.google.fr/", **attribution},
        HTTP_USER_AGENT="Mozilla/5.0 (header)",
    )

    session = VisitorSession.objects.get(pk=response.json()["session_id"])
    for field, value in attribution.items():
        assert getattr(session, field) == value
    assert session.referrer == "https://www.google.fr/"
    assert session.user_agent == "Mozilla/5.0 (header)"
    assert session.ip == "203.0.113.7"


def test_user_agent_from_the_body_wins_over_the_header(client, form):
    response = post_json(
        client,
        SESSION_URL,
        {"lp_code": form.landing_page.code, "user_agent": "Mozilla/5.0 (body)"},
        HTTP_USER_AGENT="Mozilla/5.0 (header)",
    )
    session = VisitorSession.objects.get(pk=response.json()["session_id"])
    assert session.user_agent == "Mozilla/5.0 (body)"


def test_session_accepts_json_sent_as_text_plain(client, form):
    response = post_raw(
        client, SESSION_URL, json.dumps({"lp_code": form.landing_page.code}), "text/plain"
    )
    assert response.status_code == 200
    assert response.json()["form_code"] == form.code


def test_session_accepts_json_with_charset_in_text_plain(client, form):
    response = post_raw(
        client,
        SESSION_URL,
        json.dumps({"lp_code": form.landing_page.code}),
        "text/plain;charset=UTF-8",
    )
    assert response.status_code == 200
    assert response.json()["form_code"] == form.code


def test_session_accepts_json_without_content_type(client, form):
    response = post_raw(client, SESSION_URL, json.dumps({"lp_code": form.landing_page.code}), "")
    assert response.status_code == 200
    assert response.json()["form_code"] == form.code


def test_session_with_an_empty_body_opens_a_bare_session(client):
    # Every session field is optional: an empty beacon is a visit without codes.
    response = post_raw(client, SESSION_URL, "", "text/plain")
    assert response.status_code == 200
    assert VisitorSession.objects.filter(pk=response.json()["session_id"]).exists()


@pytest.mark.parametrize("url", [SESSION_URL, LP_VISIT_URL, EVENT_URL])
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"lp_code": "LP-001"', "text/plain"),
        ('{"lp_code": "LP-001"', "application/json"),
        ("{'lp_code': 'LP-001'}", ""),
        ("lp_code=LP-001", "application/x-www-form-urlencoded"),
        ('["LP-001", "PV-001"]', "text/plain"),
        ('["LP-001"]', "application/json"),
        ('"LP-001"', "application/json"),
        ("42", "text/plain"),
        ("null", "application/json"),
        (b"\xff\xfe{", "text/plain"),
    ],
)
def test_broken_or_non_object_bodies_answer_400_json_never_500(client, url, body, content_type):
    assert_json_error(post_raw(client, url, body, content_type), 400)


@pytest.mark.parametrize("url", [LP_VISIT_URL, EVENT_URL])
@pytest.mark.parametrize("content_type", ["text/plain", "application/json", ""])
def test_beacons_with_an_empty_body_answer_400_json(client, url, content_type):
    body = assert_json_error(post_raw(client, url, "", content_type), 400)
    assert "session_id" in body["error"]


def test_a_field_of_the_wrong_type_answers_400_naming_it(client):
    body = assert_json_error(post_json(client, SESSION_URL, {"utm_source": {"a": 1}}), 400)
    assert "utm_source" in body["error"]


def test_a_field_too_long_answers_400_naming_it(client):
    body = assert_json_error(post_json(client, SESSION_URL, {"visitor_id": "v" * 65}), 400)
    assert "visitor_id" in body["error"]
    assert not VisitorSession.objects.exists()


# --- POST /api/public/track/lp-visit ---------------------------------------------


@pytest.fixture
def session(client, form):
    response = post_json(
        client,
        SESSION_URL,
        {"lp_code": form.landing_page.code, "utm_source": "google"},
    )
    return VisitorSession.objects.get(pk=response.json()["session_id"])


def test_lp_visit_records_one_event_with_attribution(form, session):
    client = public_client(ip="198.51.100.9")
    response = post_json(
        client,
        LP_VISIT_URL,
        {
            "session_id": str(session.pk),
            "utm_source": "facebook",
            "utm_medium": "paid",
            "gclid": "G-1",
            "referrer": "https://facebook.com/",
        },
        HTTP_USER_AGENT="Beacon/1.0",
    )

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "success": True,
        "code": "event_recorded",
        "event_id": body["event_id"],
        "duplicate": False,
    }
    event = TrackingEvent.objects.get(pk=body["event_id"])
    assert event.event_type == "lp_visit"
    assert event.session == session
    assert event.utm_source == "facebook"
    assert event.utm_medium == "paid"
    assert event.gclid == "G-1"
    assert event.referrer == "https://facebook.com/"
    assert event.user_agent == "Beacon/1.0"
    assert event.ip == "198.51.100.9"
    assert event.landing_page == form.landing_page
    assert event.account == form.account
    assert event.lp_code == form.landing_page.code


def test_lp_visit_is_recorded_once_per_session(client, session):
    first = post_json(client, LP_VISIT_URL, {"session_id": str(session.pk)}).json()
    second = post_json(client, LP_VISIT_URL, {"session_id": str(session.pk)}).json()

    assert first["duplicate"] is False
    assert second["success"] is True
    assert second["duplicate"] is True
    assert second["event_id"] == first["event_id"]
    assert TrackingEvent.objects.filter(session=session, event_type="lp_visit").count() == 1


def test_lp_visit_as_text_plain_beacon(client, session):
    response = post_raw(
        client, LP_VISIT_URL, json.dumps({"session_id": str(session.pk)}), "text/plain"
    )
    assert response.status_code == 200
    assert TrackingEvent.objects.filter(session=session, event_type="lp_visit").exists()


def test_lp_visit_for_an_unknown_session_answers_404_json(client):
    body = assert_json_error(
        post_json(client, LP_VISIT_URL, {"session_id": str(uuid.uuid4())}), 404
    )
    assert "session" in body["error"].lower()
    assert not TrackingEvent.objects.exists()


def test_lp_visit_with_a_malformed_session_id_answers_400(client):
    body = assert_json_error(post_json(client, LP_VISIT_URL, {"session_id": "not-a-uuid"}), 400)
    assert "session_id" in body["error"]


def test_lp_visit_first_touch_fills_only_the_sessions_empty_fields(client, session):
    assert session.utm_source == "google"
    post_json(
        client,
        LP_VISIT_URL,
        {
            "session_id": str(session.pk),
            "utm_source": "facebook",
            "utm_medium": "cpc",
            "utm_campaign": "spring",
            "fbclid": "FB-1",
        },
    )

    session.refresh_from_db()
    assert session.utm_source == "google"  # already set: first touch wins
    assert session.utm_medium == "cpc"
    assert session.utm_campaign == "spring"
    assert session.fbclid == "FB-1"
    assert session.gclid == ""


def test_a_repeated_lp_visit_does_not_touch_the_session(client, session):
    post_json(client, LP_VISIT_URL, {"session_id": str(session.pk)})
    post_json(client, LP_VISIT_URL, {"session_id": str(session.pk), "utm_medium": "late"})

    session.refresh_from_db()
    assert session.utm_medium == ""


# --- POST /api/public/track/event ------------------------------------------------


@pytest.mark.parametrize("event_type", ["lp_visit", "cta_click", "form_start"])
def test_once_per_session_events(client, session, event_type):
    body = {"session_id": str(session.pk), "event_type": event_type}
    first = post_json(client, EVENT_URL, body).json()
    second = post_json(client, EVENT_URL, body).json()

    assert first["duplicate"] is False
    assert second["duplicate"] is True
    assert second["event_id"] == first["event_id"]
    assert TrackingEvent.objects.filter(session=session, event_type=event_type).count() == 1


def test_once_per_session_is_per_session(client, form):
    sessions = VisitorSessionFactory.create_batch(2, form=form)
    for s in sessions:
        response = post_json(
            client, EVENT_URL, {"session_id": str(s.pk), "event_type": "cta_click"}
        )
        assert response.json()["duplicate"] is False
    assert TrackingEvent.objects.filter(event_type="cta_click").count() == 2


def test_lp_visit_endpoint_and_lp_visit_event_share_the_once_rule(client, session):
    first = post_json(client, LP_VISIT_URL, {"session_id": str(session.pk)}).json()
    second = post_json(
        client, EVENT_URL, {"session_id": str(session.pk), "event_type": "lp_visit"}
    ).json()
    assert second == {
        "success": True,
        "code": "event_duplicate",
        "event_id": first["event_id"],
        "duplicate": True,
    }


def test_form_step_is_recorded_every_time(client, session):
    ids = [
        post_json(
            client,
            EVENT_URL,
            {"session_id": str(session.pk), "event_type": "form_step", "data": {"step": n}},
        ).json()
        for n in (1, 2, 2)
    ]

    assert [r["duplicate"] for r in ids] == [False, False, False]
    assert len({r["event_id"] for r in ids}) == 3
    steps = TrackingEvent.objects.filter(session=session, event_type="form_step").order_by("id")
    assert [e.data for e in steps] == [{"step": 1}, {"step": 2}, {"step": 2}]


def test_event_takes_lp_form_account_and_liaison_code_from_the_session(client, form, session):
    response = post_json(
        client, EVENT_URL, {"session_id": str(session.pk), "event_type": "form_start"}
    )

    event = TrackingEvent.objects.get(pk=response.json()["event_id"])
    assert event.landing_page == form.landing_page
    assert event.form == form
    assert event.account == form.account
    assert event.lp_code == form.landing_page.code
    assert event.form_code == form.code
    assert event.liaison_code == f"{form.landing_page.code}_{form.code}"


def test_event_codes_from_the_body_win(client, session):
    response = post_json(
        client,
        EVENT_URL,
        {
            "session_id": str(session.pk),
            "event_type": "cta_click",
            "lp_code": "LP-777",
            "form_code": "PV-777",
            "liaison_code": "LP-777_PV-777",
        },
    )
    event = TrackingEvent.objects.get(pk=response.json()["event_id"])
    assert (event.lp_code, event.form_code, event.liaison_code) == (
        "LP-777",
        "PV-777",
        "LP-777_PV-777",
    )


def test_event_for_an_unknown_session_answers_404_json(client):
    assert_json_error(
        post_json(client, EVENT_URL, {"session_id": str(uuid.uuid4()), "event_type": "cta_click"}),
        404,
    )
    assert not TrackingEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_type": "cta_click"}, "session_id"),
        ({"session_id": "SESSION"}, "event_type"),
        ({"session_id": "SESSION", "event_type": "Form Start!"}, "event_type"),
        ({"session_id": "SESSION", "event_type": "x" * 51}, "event_type"),
        ({"session_id": "SESSION", "event_type": "form_step", "data": [1]}, "data"),
    ],
)
def test_event_with_a_missing_or_invalid_field_answers_400_naming_it(client, session, body, field):
    body = {k: str(session.pk) if v == "SESSION" else v for k, v in body.items()}
    response = post_json(client, EVENT_URL, body)
    assert field in assert_json_error(response, 400)["error"]
    assert not TrackingEvent.objects.exists()


def test_event_as_text_plain_beacon(client, session):
    response = post_raw(
        client,
        EVENT_URL,
        json.dumps({"session_id": str(session.pk), "event_type": "cta_click"}),
        "text/plain",
    )
    assert response.status_code == 200
    assert TrackingEvent.objects.filter(session=session, event_type="cta_click").exists()


# --- Concurrency (PostgreSQL): duplicate suppression enforced by the database ------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_form_start_beacons_leave_exactly_one_row():
    session = VisitorSessionFactory(form=FormFactory(landing_page=LandingPageFactory()))
    threads_count = 10
    barrier = threading.Barrier(threads_count)
    answers: list[dict] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def post_form_start():
        try:
            client = public_client()
            barrier.wait(timeout=10)
            response = post_json(
                client, EVENT_URL, {"session_id": str(session.pk), "event_type": "form_start"}
            )
            with lock:
                answers.append({"status": response.status_code, **response.json()})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post_form_start) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(answers) == threads_count
    assert all(a["status"] == 200 for a in answers)
    events = TrackingEvent.objects.filter(session=session, event_type="form_start")
    assert events.count() == 1
    assert {a["event_id"] for a in answers} == {events.get().pk}
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * (threads_count - 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_event_record_calls_return_the_same_event():
    session = VisitorSessionFactory()
    threads_count = 10
    barrier = threading.Barrier(threads_count)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def record():
        try:
            barrier.wait(timeout=10)
            event, created = event_record(
                session=session, event_type="cta_click", data={}, ip=None, user_agent=""
            )
            with lock:
                results.append((event.pk, created))
        except BaseException as exc:  # noqa: BLE001
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert TrackingEvent.objects.filter(session=session, event_type="cta_click").count() == 1
    assert len({pk for pk, _ in results}) == 1
    assert sum(created for _, created in results) == 1
