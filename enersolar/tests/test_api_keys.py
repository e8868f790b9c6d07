"""Partner API keys (SPEC §3.2): created in the admin and shown once, stored
hashed (SHA-256 digest only), revocable, journaled."""

import hashlib
import re

import pytest
from django.contrib import admin
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth import get_user_model

from enersolar.models import ActivityLog, ApiKey
from enersolar.services import api_key_create, api_key_digest, api_key_revoke
from enersolar.tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def stored_values(api_key: ApiKey) -> list[str]:
    """Every column of the key's row, as text."""
    row = ApiKey.objects.filter(pk=api_key.pk).values()[0]
    return [str(value) for value in row.values()]


def test_create_returns_the_raw_key_and_stores_only_its_sha256_digest():
    api_key, raw_key = api_key_create(account=AccountFactory(), name="Partenaire")

    api_key.refresh_from_db()
    assert len(raw_key) >= 40  # 32 random bytes, URL-safe
    assert api_key.key_hash == hashlib.sha256(raw_key.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", api_key.key_hash)
    assert api_key_digest(raw_key) == api_key.key_hash


def test_the_raw_key_is_in_no_column():
    api_key, raw_key = api_key_create(account=AccountFactory(), name="Partenaire")

    assert all(raw_key not in value for value in stored_values(api_key))


def test_create_stores_the_prefix_of_the_raw_key():
    api_key, raw_key = api_key_create(account=AccountFactory(), name="Partenaire")

    api_key.refresh_from_db()
    assert raw_key.startswith("es_")
    assert api_key.prefix == raw_key[:10]
    assert str(api_key) == f"Partenaire ({raw_key[:10]}…)"


def test_every_key_is_different():
    account = AccountFactory()
    raw_keys = {api_key_create(account=account, name=f"k{n}")[1] for n in range(5)}

    assert len(raw_keys) == 5
    assert ApiKey.objects.values("key_hash").distinct().count() == 5


def test_create_is_journaled_without_the_key():
    user = UserFactory()
    api_key, raw_key = api_key_create(account=AccountFactory(), name="Partenaire", user=user)

    entry = ActivityLog.objects.get(action=ActivityLog.Action.KEY_CREATE)
    assert entry.user == user
    assert entry.object_type == "enersolar.apikey"
    assert entry.object_id == str(api_key.pk)
    assert raw_key not in f"{entry.object_repr} {entry.details}"
    assert api_key.created_by == user


def test_revoke_sets_revoked_at_and_journals():
    user = UserFactory()
    api_key, _ = api_key_create(account=AccountFactory(), name="Partenaire")
    assert api_key.is_active

    api_key_revoke(api_key=api_key, user=user)

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert not api_key.is_active
    entry = ActivityLog.objects.get(action=ActivityLog.Action.KEY_REVOKE)
    assert entry.user == user
    assert entry.object_id == str(api_key.pk)


def test_revoking_twice_keeps_the_first_time_and_journals_once():
    api_key, _ = api_key_create(account=AccountFactory(), name="Partenaire")
    api_key_revoke(api_key=api_key)
    first = ApiKey.objects.get(pk=api_key.pk).revoked_at

    api_key_revoke(api_key=ApiKey.objects.get(pk=api_key.pk))

    assert ApiKey.objects.get(pk=api_key.pk).revoked_at == first
    assert ActivityLog.objects.filter(action=ActivityLog.Action.KEY_REVOKE).count() == 1


# --- In the admin ----------------------------------------------------------------------


def raw_key_in(html: str) -> str:
    match = re.search(r'<code id="raw-key"[^>]*>([^<]+)</code>', html)
    assert match, "the raw key is not on the page"
    return match.group(1)


def test_admin_add_shows_the_raw_key_once_then_never_again(admin_client):
    account = AccountFactory()

    response = admin_client.post(
        "/admin/enersolar/apikey/add/", {"account": account.pk, "name": "Partenaire web"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    raw_key = raw_key_in(html)
    assert html.count(raw_key) == 1
    api_key = ApiKey.objects.get()
    assert api_key.account == account
    assert api_key.name == "Partenaire web"
    assert api_key.key_hash == api_key_digest(raw_key)
    assert api_key.created_by == get_user_model().objects.get(username="admin")
    assert all(raw_key not in value for value in stored_values(api_key))

    changelist = admin_client.get("/admin/enersolar/apikey/").content.decode()
    assert api_key.prefix in changelist
    assert raw_key not in changelist
    detail = admin_client.get(f"/admin/enersolar/apikey/{api_key.pk}/change/")
    assert detail.status_code == 200
    assert raw_key not in detail.content.decode()


def test_admin_add_is_journaled(admin_client):
    admin_client.post(
        "/admin/enersolar/apikey/add/", {"account": AccountFactory().pk, "name": "Partenaire"}
    )

    entry = ActivityLog.objects.get(action=ActivityLog.Action.KEY_CREATE)
    assert entry.user.username == "admin"


def test_admin_add_history_entry_points_to_the_created_key(admin_client):
    admin_client.post(
        "/admin/enersolar/apikey/add/", {"account": AccountFactory().pk, "name": "Partenaire"}
    )

    api_key = ApiKey.objects.get()
    entry = LogEntry.objects.get(action_flag=ADDITION)
    assert entry.object_id == str(api_key.pk)
    assert entry.object_repr == str(api_key)
    assert entry.get_edited_object() == api_key


def test_admin_does_not_keep_the_raw_key_after_the_response(admin_client):
    # The ModelAdmin is one object shared by every request (and thread).
    response = admin_client.post(
        "/admin/enersolar/apikey/add/", {"account": AccountFactory().pk, "name": "Partenaire"}
    )
    raw_key = raw_key_in(response.content.decode())

    model_admin = admin.site._registry[ApiKey]
    assert raw_key not in repr(vars(model_admin))


def test_admin_cannot_edit_a_key(admin_client):
    api_key, _ = api_key_create(account=AccountFactory(), name="Partenaire")

    response = admin_client.post(
        f"/admin/enersolar/apikey/{api_key.pk}/change/",
        {"account": api_key.account_id, "name": "Renamed"},
    )

    assert response.status_code == 403
    assert ApiKey.objects.get(pk=api_key.pk).name == "Partenaire"


def test_admin_revoke_action_revokes_the_selected_keys(admin_client):
    account = AccountFactory()
    kept, _ = api_key_create(account=account, name="kept")
    revoked, _ = api_key_create(account=account, name="revoked")

    response = admin_client.post(
        "/admin/enersolar/apikey/", {"action": "revoke", "_selected_action": [revoked.pk]}
    )

    assert response.status_code == 302
    assert ApiKey.objects.get(pk=revoked.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=kept.pk).revoked_at is None
    entry = ActivityLog.objects.get(action=ActivityLog.Action.KEY_REVOKE)
    assert entry.object_id == str(revoked.pk)
    assert entry.user.username == "admin"
