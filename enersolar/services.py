"""Writes of the core: code sequences, inbound API keys, the journal."""

import hashlib
import secrets

from django.db import connection, models
from django.utils import timezone

from .models import ActivityLog, ApiKey, CodeSequence

API_KEY_PREFIX = "es_"


def code_sequence_next(*, name: str) -> int:
    """Next value of a named counter, atomically, in one statement.

    An upsert with RETURNING (PostgreSQL, SQLite ≥ 3.35) means two concurrent
    callers can never read the same value: the second waits on the row lock
    of the first and increments after it.
    """
    table = connection.ops.quote_name(CodeSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, last_value) VALUES (%s, 1) "
            f"ON CONFLICT (name) DO UPDATE SET last_value = {table}.last_value + 1 "
            "RETURNING last_value",
            [name],
        )
        return cursor.fetchone()[0]


def api_key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, account, name: str, user=None) -> tuple[ApiKey, str]:
    """Create an inbound key; the raw key is returned once and never stored."""
    raw_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        account=account,
        name=name,
        prefix=raw_key[:10],
        key_hash=api_key_digest(raw_key),
        created_by=user,
    )
    journal_record(user=user, action=ActivityLog.Action.KEY_CREATE, obj=api_key)
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey, user=None) -> None:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        journal_record(user=user, action=ActivityLog.Action.KEY_REVOKE, obj=api_key)


def journal_record(
    *,
    user,
    action: str,
    obj: models.Model | None = None,
    details: dict | None = None,
) -> ActivityLog:
    """Write one journal entry. `user` may be None for system actions."""
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    return ActivityLog.objects.create(
        user=user,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        details=details or {},
    )
