"""Staff API of the delivery queue (SPEC §5): stats, items, process, retry
exhausted, Relancer; session and token auth; roles; the journal."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from rest_framework.authtoken.models import Token

from enersolar.models import ActivityLog
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from routing.models import Delivery

from .factories import DeliveryFactory
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


def item(world, state, **fields):
    lead_status = {
        Delivery.State.PENDING: Lead.Status.QUEUED,
        Delivery.State.PROCESSING: Lead.Status.QUEUED,
        Delivery.State.SUCCESS: Lead.Status.SUCCESS,
        Delivery.State.FAILED: Lead.Status.FAILED,
        Delivery.State.EXHAUSTED: Lead.Status.FAILED,
    }[state]
    lead = world.lead(status=lead_status)
    return DeliveryFactory(lead=lead, order=world.order, state=state, **fields)


def as_user(client, role, **fields):
    user = UserFactory(role=role, **fields)
    client.force_login(user)
    return user


def with_token(client, role):
    user = UserFactory(role=role)
    token = Token.objects.create(user=user)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token.key}"
    return user


# --- Stats and items --------------------------------------------------------------------


def test_stats_count_every_state_and_the_total(client, world, frozen):
    S = Delivery.State
    for state, n in [(S.PENDING, 2), (S.PROCESSING, 1), (S.SUCCESS, 3), (S.FAILED, 1)]:
        for _ in range(n):
            item(world, state)
    oldest = item(world, S.PENDING, next_attempt_at=NOW - timedelta(hours=1))
    item(world, S.EXHAUSTED)
    as_user(client, "Viewer")

    response = client.get("/api/queue/stats")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in [*S.values, "total"]} == {
        "pending": 3,
        "processing": 1,
        "success": 3,
        "failed": 1,
        "exhausted": 1,
        "total": 9,
    }
    assert datetime.fromisoformat(body["oldest_pending_due"]) == oldest.next_attempt_at


def test_stats_of_an_empty_queue(client):
    as_user(client, "Viewer")
    body = client.get("/api/queue/stats").json()
    assert body["total"] == 0 and body["pending"] == 0 and body["oldest_pending_due"] is None


def test_items_filtered_by_status_and_paginated(client, world, frozen):
    for n in range(55):
        item(
            world,
            Delivery.State.PENDING,
            attempts=2,
            last_error="HTTP 500",
            next_attempt_at=NOW + timedelta(minutes=n),
        )
    item(world, Delivery.State.SUCCESS)
    as_user(client, "Viewer")

    first = client.get("/api/queue/items", {"status": "pending"}).json()
    second = client.get("/api/queue/items", {"status": "pending", "page": 2}).json()

    assert first["count"] == 55
    assert len(first["results"]) == 50 and len(second["results"]) == 5
    assert first["next"] and second["next"] is None
    row = first["results"][0]
    assert row["crm"] == "zr7"
    assert row["state"] == "pending"
    assert row["attempts"] == 2 and row["retries"] == 1
    assert row["last_error"] == "HTTP 500"
    assert row["lead_status"] == "queued"
    assert datetime.fromisoformat(row["next_attempt_at"]) == NOW  # soonest first
    assert Delivery.objects.filter(pk=row["lead_id"]).exists()
    everything = client.get("/api/queue/items").json()
    assert everything["count"] == 56


def test_items_with_an_unknown_status_is_a_400(client):
    as_user(client, "Viewer")
    response = client.get("/api/queue/items", {"status": "lost"})
    assert response.status_code == 400


# --- Actions ---------------------------------------------------------------------------------


def test_process_runs_the_queue_for_admins(client, buyer, world, frozen):
    due = [item(world, Delivery.State.PENDING) for _ in range(2)]
    later = item(world, Delivery.State.PENDING, next_attempt_at=NOW + timedelta(hours=1))
    admin = as_user(client, "Admin")

    response = client.post("/api/queue/process")

    assert response.status_code == 200
    assert response.json() == {
        "released": 0,
        "dispatched": 2,
        "probed": 0,
        "swept": 0,
        "expired": 0,
    }
    assert buyer.count_by_idempotency_key() == {str(d.pk): 1 for d in due}
    assert Lead.objects.get(pk=later.pk).status == Lead.Status.QUEUED
    entry = ActivityLog.objects.get(action=ActivityLog.Action.QUEUE_ACTION)
    assert entry.user == admin
    assert entry.details == {
        "action": "process",
        "released": 0,
        "dispatched": 2,
        "probed": 0,
        "swept": 0,
        "expired": 0,
    }


def test_retry_exhausted_for_admins(client, buyer, world, frozen):
    exhausted = [item(world, Delivery.State.EXHAUSTED, attempts=6) for _ in range(3)]
    item(world, Delivery.State.FAILED)
    admin = as_user(client, "Admin")

    response = client.post("/api/queue/retry-exhausted")

    assert response.status_code == 200
    assert response.json() == {"reset": 3}
    for delivery in exhausted:
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts) == (Delivery.State.PENDING, 0)
        assert delivery.next_attempt_at == NOW
    entry = ActivityLog.objects.get(action=ActivityLog.Action.QUEUE_ACTION)
    assert entry.user == admin and entry.details == {"action": "retry_exhausted", "count": 3}

    client.post("/api/queue/process")  # the next queue run sends them
    assert len(buyer.count_by_idempotency_key(answered=201)) == 3


@pytest.mark.parametrize("path", ["/api/queue/process", "/api/queue/retry-exhausted"])
@pytest.mark.parametrize("role", ["Editor", "Viewer"])
def test_queue_actions_are_admin_only(client, buyer, world, path, role):
    item(world, Delivery.State.PENDING)
    item(world, Delivery.State.EXHAUSTED)
    as_user(client, role)

    assert client.post(path).status_code == 403

    assert buyer.requests == []
    assert Delivery.objects.filter(state=Delivery.State.EXHAUSTED).count() == 1
    assert not ActivityLog.objects.filter(action=ActivityLog.Action.QUEUE_ACTION).exists()


# --- Relancer ---------------------------------------------------------------------------------


def test_editor_may_send_a_failed_lead_again(
    client, buyer, world, django_capture_on_commit_callbacks
):
    failed = item(world, Delivery.State.FAILED, attempts=1, last_error="HTTP 404")
    editor = as_user(client, "Editor")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/leads/{failed.pk}/retry")

    assert response.status_code == 200
    assert response.json() == {"success": True, "code": "lead_requeued", "status": "pending"}
    assert Lead.objects.get(pk=failed.pk).status == Lead.Status.SUCCESS
    assert buyer.count_by_idempotency_key(answered=201) == {str(failed.pk): 1}
    entry = ActivityLog.objects.get(action=ActivityLog.Action.LEAD_RETRY)
    assert (entry.user, entry.object_id) == (editor, str(failed.pk))


def test_retrying_a_delivered_lead_is_a_conflict(client, buyer, world):
    delivered = item(world, Delivery.State.SUCCESS)
    as_user(client, "Editor")

    response = client.post(f"/api/leads/{delivered.pk}/retry")

    assert response.status_code == 409
    assert response.json()["success"] is False
    assert response.json()["code"] == "lead_not_resendable"
    assert "success" in response.json()["error"]
    assert buyer.requests == []


def test_retry_of_an_unknown_lead_is_a_404(client):
    as_user(client, "Editor")
    assert client.post("/api/leads/6f1d8e3a-0000-4000-8000-000000000000/retry").status_code == 404


def test_viewer_may_not_retry(client, buyer, world):
    failed = item(world, Delivery.State.FAILED)
    as_user(client, "Viewer")

    assert client.post(f"/api/leads/{failed.pk}/retry").status_code == 403
    assert Lead.objects.get(pk=failed.pk).status == Lead.Status.FAILED


# --- Authentication ----------------------------------------------------------------------------


def test_token_authentication(client, buyer, world, frozen):
    item(world, Delivery.State.PENDING)
    admin = with_token(client, "Admin")

    assert client.get("/api/queue/stats").json()["pending"] == 1
    assert client.post("/api/queue/process").json()["dispatched"] == 1
    assert ActivityLog.objects.get(action=ActivityLog.Action.QUEUE_ACTION).user == admin


def test_token_of_an_editor_keeps_the_editor_rights(client, world):
    with_token(client, "Editor")
    assert client.get("/api/queue/stats").status_code == 200
    assert client.post("/api/queue/process").status_code == 403


@pytest.mark.parametrize(
    "path, method",
    [
        ("/api/queue/stats", "get"),
        ("/api/queue/items", "get"),
        ("/api/queue/process", "post"),
        ("/api/queue/retry-exhausted", "post"),
    ],
)
def test_anonymous_and_bad_tokens_are_refused(client, path, method):
    anonymous = getattr(client, method)(path)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    response = getattr(client, method)(path, HTTP_AUTHORIZATION="Token not-a-token")
    assert response.status_code == 401
    assert response.json()["success"] is False


def test_a_user_who_is_not_staff_is_refused_whatever_its_groups(client, world):
    as_user(client, "Admin", is_staff=False)
    assert client.get("/api/queue/stats").status_code == 403
    assert client.post("/api/queue/process").status_code == 403
