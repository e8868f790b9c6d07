"""The nightly verification (SPEC §7) and its staff endpoints."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.utils.dateparse import parse_datetime
from rest_framework.authtoken.models import Token

from enersolar.models import ActivityLog
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from routing.models import Delivery, DeliveryAttempt, VerificationReport
from routing.services.batch import lead_deliver
from routing.services.verification import verification_run

from .factories import DeliveryAttemptFactory, DeliveryFactory
from .helpers import make_world

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(buyer):
    return make_world(buyer.url("zr7"))


def delivered(world, *, status, state, hours_ago=1, attempts=1, attempt_outcome=None, **fields):
    """A lead of `hours_ago` with its delivery in `state` (and, when given,
    one recorded attempt)."""
    lead = world.lead(status=status, created_at=NOW - timedelta(hours=hours_ago))
    delivery = DeliveryFactory(
        lead=lead, order=world.order, state=state, attempts=attempts, **fields
    )
    if attempt_outcome:
        DeliveryAttemptFactory(
            delivery=delivery,
            outcome=attempt_outcome,
            http_status=201 if attempt_outcome == "success" else 500,
        )
    return lead


@pytest.fixture
def day(world):
    """A day of leads in every situation the verification deals with."""
    S, D = Lead.Status, Delivery.State
    leads = {
        "exhausted": delivered(world, status=S.FAILED, state=D.EXHAUSTED, attempts=6),
        "failed": delivered(world, status=S.FAILED, state=D.FAILED),
        "duplicate": delivered(world, status=S.DUPLICATE, state=D.FAILED),
        "auth_error": delivered(world, status=S.AUTH_ERROR, state=D.FAILED),
        "validation_error": delivered(world, status=S.VALIDATION_ERROR, state=D.FAILED),
        "success": delivered(world, status=S.SUCCESS, state=D.SUCCESS, attempt_outcome="success"),
        "recovered": delivered(
            world, status=S.SUCCESS, state=D.SUCCESS, attempts=3, attempt_outcome="success"
        ),
        "success_no_attempt": delivered(world, status=S.SUCCESS, state=D.SUCCESS),
        "held": world.lead(status=S.PENDING_NO_ORDER, created_at=NOW - timedelta(hours=2)),
        "stuck": world.lead(status=S.PENDING, created_at=NOW - timedelta(minutes=10)),
        # Older than the window: left alone.
        "old_failed": delivered(world, status=S.FAILED, state=D.FAILED, hours_ago=25),
        "old_exhausted": delivered(world, status=S.FAILED, state=D.EXHAUSTED, hours_ago=25),
        "old_held": world.lead(status=S.PENDING_NO_ORDER, created_at=NOW - timedelta(hours=25)),
    }
    return leads


def test_run_retries_failed_and_exhausted_of_the_day_only(
    buyer, day, frozen, admin_inbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = verification_run(triggered_by="test")

    sent = set(buyer.count_by_idempotency_key())
    expected = {"exhausted", "failed", "held", "stuck"}
    assert sent == {str(day[name].pk) for name in expected}
    assert buyer.count_by_idempotency_key(answered=201) == {str(day[n].pk): 1 for n in expected}
    statuses = {name: Lead.objects.get(pk=lead.pk).status for name, lead in day.items()}
    assert statuses == {
        "exhausted": "success",
        "failed": "success",
        "duplicate": "duplicate",
        "auth_error": "auth_error",
        "validation_error": "validation_error",
        "success": "success",
        "recovered": "success",
        "success_no_attempt": "success",
        "held": "success",
        "stuck": "success",
        "old_failed": "failed",
        "old_exhausted": "failed",
        "old_held": "pending_no_order",
    }
    assert report.retried == 2
    assert report.rerouted == 1


def test_report_counts_anomalies_and_summary(
    buyer, day, frozen, admin_inbox, django_capture_on_commit_callbacks
):
    user = UserFactory(role="Admin")
    report = verification_run(triggered_by="alice", user=user)

    report = VerificationReport.objects.get(pk=report.pk)  # stored
    assert report.window_start == NOW - timedelta(hours=24)
    assert report.window_end == NOW
    assert report.triggered_by == "alice"
    assert report.finished_at is not None
    assert report.counts == {
        "failed": {"zr7": 2},
        "duplicate": {"zr7": 1},
        "auth_error": {"zr7": 1},
        "validation_error": {"zr7": 1},
        "success": {"zr7": 3},
        "pending_no_order": {"-": 1},
        "pending": {"-": 1},
    }
    assert report.total_leads == 10
    assert report.permanent_errors == 2
    assert report.recovered == 1
    assert report.retried == 2
    assert report.rerouted == 1
    assert report.redispatched == 1  # the stuck lead; the re-routed one is counted above
    assert report.anomalies == {
        "success_without_attempt": 1,
        "attempt_success_but_lead_not_delivered": 0,
        "delivery_state_mismatch": 0,
    }

    (mail,) = admin_inbox
    assert mail.subject == "[EnerSolar] Vérification du 2030-06-15"  # in the site language
    assert "Leads: 10" in mail.body
    assert "leads livrés sans envoi réussi : 1" in mail.body  # anomalies in words
    assert "échec : zr7=2" in mail.body  # statuses too
    entry = ActivityLog.objects.get(action=ActivityLog.Action.VERIFICATION)
    assert entry.user == user and entry.object_id == str(report.pk)


def test_anomalies_compare_statuses_with_the_attempt_log(world, frozen, admin_inbox):
    S, D = Lead.Status, Delivery.State
    delivered(world, status=S.SUCCESS, state=D.SUCCESS)  # no success attempt
    delivered(world, status=S.FAILED, state=D.FAILED, attempt_outcome="success")
    delivered(world, status=S.QUEUED, state=D.SUCCESS, attempt_outcome="success")
    delivered(world, status=S.SUCCESS, state=D.SUCCESS, attempt_outcome="success")  # fine

    report = verification_run()

    assert report.anomalies == {
        "success_without_attempt": 1,
        "attempt_success_but_lead_not_delivered": 2,
        "delivery_state_mismatch": 1,
    }


def test_a_quiet_day_sends_nothing(buyer, world, frozen, admin_inbox):
    report = verification_run()

    assert report.total_leads == 0 and report.counts == {}
    assert buyer.requests == []
    assert len(admin_inbox) == 1


# --- Staff API --------------------------------------------------------------------------------


def api(client, user):
    client.force_login(user)
    return client


def test_run_endpoint_for_admins_only(client, world, frozen, admin_inbox):
    assert api(client, UserFactory(role="Viewer")).post("/api/verification/run").status_code == 403
    assert api(client, UserFactory(role="Editor")).post("/api/verification/run").status_code == 403
    assert not VerificationReport.objects.exists()

    admin = UserFactory(role="Admin", username="boss")
    response = api(client, admin).post("/api/verification/run")

    assert response.status_code == 200
    body = response.json()
    assert body["triggered_by"] == "boss"
    assert VerificationReport.objects.get().pk == body["id"]
    assert ActivityLog.objects.filter(action="verification", user=admin).count() == 1


def test_run_endpoint_with_a_token(client, world, frozen, admin_inbox):
    token = Token.objects.create(user=UserFactory(role="Admin"))

    response = client.post("/api/verification/run", HTTP_AUTHORIZATION=f"Token {token.key}")

    assert response.status_code == 200
    assert client.post("/api/verification/run").status_code == 401  # no credentials


@pytest.mark.parametrize(
    "moment, next_run",
    [
        ("2030-06-15T12:00:00", "2030-06-16T03:00:00"),
        ("2030-06-15T02:59:00", "2030-06-15T03:00:00"),
        ("2030-06-15T03:00:00", "2030-06-16T03:00:00"),
    ],
)
def test_status_shows_last_and_next_run(client, moment, next_run):
    viewer = UserFactory(role="Viewer")
    with time_machine.travel(datetime.fromisoformat(moment).replace(tzinfo=UTC), tick=False):
        empty = api(client, viewer).get("/api/verification/status").json()
        report = verification_run()
        status = client.get("/api/verification/status").json()

    assert empty["last_run"] is None
    expected = datetime.fromisoformat(next_run).replace(tzinfo=UTC)
    assert parse_datetime(empty["next_run"]) == expected
    assert status["last_run"]["id"] == report.pk
    assert parse_datetime(status["next_run"]) == expected


def test_reports_are_listed_newest_first(client, frozen, admin_inbox):
    first = verification_run()
    frozen.shift(timedelta(days=1))
    second = verification_run()

    response = api(client, UserFactory(role="Viewer")).get("/api/verification/reports")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [r["id"] for r in body["results"]] == [second.pk, first.pk]
    assert {"counts", "retried", "recovered", "still_failing", "anomalies"} <= set(
        body["results"][0]
    )


def test_endpoints_need_a_staff_user(client):
    for path in ("/api/verification/status", "/api/verification/reports"):
        response = client.get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"
    outsider = UserFactory(is_staff=False)
    outsider.user_permissions.add(Permission.objects.get(codename="view_verificationreport"))
    assert api(client, outsider).get("/api/verification/status").status_code == 403


def test_success_attempts_recorded_for_real_deliveries_are_not_anomalies(buyer, world, admin_inbox):
    """The comparison holds on leads delivered for real, not only on rows
    written by hand."""

    with time_machine.travel(NOW - timedelta(hours=2), tick=False):
        leads = [world.lead() for _ in range(3)]
        for lead in leads:
            lead_deliver(lead_id=lead.pk)

    with time_machine.travel(NOW, tick=False):
        report = verification_run()

    assert report.counts == {"success": {"zr7": 3}}
    assert set(report.anomalies.values()) == {0}
    assert DeliveryAttempt.objects.filter(outcome="success").count() == 3
