"""Writes on forms (duplicate, archive, override key) and visitor tracking."""

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from enersolar.destinations import destination_change_record
from enersolar.models import ActivityLog
from enersolar.process_cache import process_caches_clear
from enersolar.services import journal_record

from .models import (
    Form,
    FormStatsSnapshot,
    TrackingEvent,
    UTMFields,
    VisitorSession,
)
from .selectors import form_by_code, form_by_legacy_id, form_stats, landing_page_by_code


@transaction.atomic
def form_duplicate(*, form: Form, user=None) -> Form:
    """A copy with a fresh code, on the same landing page; the key comes along."""
    source_code = form.code
    copy = Form.objects.get(pk=form.pk)
    copy.pk = None
    copy._state.adding = True
    copy.code = ""  # save() draws the next code of the product
    copy.name = f"{form.name} (copie)"
    copy.save()
    journal_record(
        user=user, action=ActivityLog.Action.DUPLICATE, obj=copy, details={"from": source_code}
    )
    return copy


def form_archive(*, form: Form, user=None) -> None:
    if form.status != Form.Status.ARCHIVED:
        form.status = Form.Status.ARCHIVED
        form.save(update_fields=["status"])
        journal_record(user=user, action=ActivityLog.Action.ARCHIVE, obj=form)


def form_override_key_replace(*, form: Form, api_key: str, user=None) -> None:
    """The one way to change a locked override key: explicit, journaled with
    old → new (masked) and mailed to the admins."""
    old = form.crm_override_api_key_masked
    form.crm_override_api_key = api_key
    form.save(update_fields=["crm_override_api_key"])
    destination_change_record(
        user=user,
        obj=form,
        changes=[
            {"field": "crm_override_api_key", "old": old, "new": form.crm_override_api_key_masked}
        ],
    )


@transaction.atomic
def form_stats_reset(*, form: Form, user=None) -> FormStatsSnapshot:
    """Snapshot the form's counters, then count from zero again.

    The row lock makes two admins resetting at once take turns: the second
    snapshots the (nearly empty) period after the first, never the same one
    twice. Counting up to `now` exactly, and restarting at `now`, means a
    session or lead stored before the reset is counted in exactly one period;
    one being written at that very instant (its created_at taken before `now`,
    its row committed after the snapshot's count) can land in neither.
    """
    locked = Form.objects.select_for_update().get(pk=form.pk)
    now = timezone.now()
    stats = form_stats(locked, until=now)
    snapshot = FormStatsSnapshot.objects.create(
        form=locked,
        period_start=locked.stats_reset_at,
        reset_at=now,
        reset_by=user if getattr(user, "is_authenticated", False) else None,
        started=stats.started,
        finished=stats.finished,
        direct=stats.direct,
    )
    locked.stats_reset_at = now
    locked.save(update_fields=["stats_reset_at"])
    form.stats_reset_at = now
    journal_record(
        user=user,
        action=ActivityLog.Action.STATS_RESET,
        obj=locked,
        details={
            "started": stats.started,
            "finished": stats.finished,
            "direct": stats.direct,
            "conversion": None if stats.conversion is None else str(stats.conversion),
            "since": snapshot.period_start.isoformat() if snapshot.period_start else None,
        },
    )
    return snapshot


def _attribution(data: dict) -> dict[str, str]:
    return {f: data.get(f) or "" for f in UTMFields.ATTRIBUTION_FIELDS}


def session_start(
    *, visitor_id: str, data: dict, ip: str | None, user_agent: str
) -> tuple[VisitorSession, bool]:
    """Open a visitor session, or give back the visitor's recent one on this LP.

    Returns (session, reused).
    """
    try:
        return _session_start(visitor_id=visitor_id, data=data, ip=ip, user_agent=user_agent)
    except IntegrityError:
        # The session points to a form or landing page this process had cached
        # and staff deleted since: look them up again in the database.
        process_caches_clear()
        return _session_start(visitor_id=visitor_id, data=data, ip=ip, user_agent=user_agent)


def _session_start(
    *, visitor_id: str, data: dict, ip: str | None, user_agent: str
) -> tuple[VisitorSession, bool]:
    lp_code, form_code = data.get("lp_code") or "", data.get("form_code") or ""
    landing_page, linked_form = landing_page_by_code(lp_code) or (None, None)
    if form_code:
        form = form_by_code(form_code) or form_by_legacy_id(form_code)
    else:
        form = linked_form
        form_code = form.code if form else ""
    liaison_code = data.get("liaison_code") or (
        f"{lp_code}_{form_code}" if lp_code and form_code else ""
    )

    since = timezone.now() - timedelta(minutes=VisitorSession.REUSE_MINUTES)
    recent = VisitorSession.objects.filter(visitor_id=visitor_id, created_at__gte=since)
    recent = recent.filter(lp_code=lp_code) if lp_code else recent.filter(form_code=form_code)
    existing = recent.order_by("-created_at").first()
    if existing is not None:
        return existing, True

    account = landing_page.account_id if landing_page else (form.account_id if form else None)
    session = VisitorSession.objects.create(
        visitor_id=visitor_id,
        landing_page_id=landing_page.id if landing_page else None,
        form_id=form.id if form else None,
        account_id=account,
        lp_code=lp_code,
        form_code=form_code,
        liaison_code=liaison_code,
        referrer=data.get("referrer") or "",
        user_agent=data.get("user_agent") or user_agent,
        ip=ip,
        **_attribution(data),
    )
    return session, False


def event_record(
    *, session: VisitorSession, event_type: str, data: dict, ip: str | None, user_agent: str
) -> tuple[TrackingEvent, bool]:
    """Record an event. Returns (event, created); for once-per-session types a
    repeat returns the first event and created=False."""
    event = TrackingEvent(
        session=session,
        event_type=event_type,
        landing_page_id=session.landing_page_id,
        form_id=session.form_id,
        account_id=session.account_id,
        lp_code=data.get("lp_code") or session.lp_code,
        form_code=data.get("form_code") or session.form_code,
        liaison_code=data.get("liaison_code") or session.liaison_code,
        referrer=data.get("referrer") or "",
        user_agent=data.get("user_agent") or user_agent,
        ip=ip,
        data=data.get("data") or {},
        **_attribution(data),
    )
    if event_type in TrackingEvent.ONCE_PER_SESSION:
        try:
            with transaction.atomic():
                event.save()
        except IntegrityError:
            # Lost the race (or a plain repeat): the unique index kept the first.
            first = TrackingEvent.objects.get(session=session, event_type=event_type)
            return first, False
    else:
        event.save()
    if event_type == "lp_visit":
        session_fill_first_touch(session=session, data=data)
    return event, True


def session_fill_first_touch(*, session: VisitorSession, data: dict) -> None:
    """First touch wins: fill only the session's empty UTM / click-id fields,
    in one UPDATE so that concurrent beacons cannot overwrite each other."""
    given = {f: v for f, v in _attribution(data).items() if v}
    if given:
        VisitorSession.objects.filter(pk=session.pk).update(
            **{f: Case(When(**{f: ""}, then=Value(v)), default=F(f)) for f, v in given.items()}
        )


@dataclass(frozen=True)
class SessionAttribution:
    """What a lead takes from its visitor session."""

    id: uuid.UUID
    lp_code: str
    liaison_code: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    landing_page_id: int | None


_SESSION_CONVERT_SQL = (
    f"UPDATE {VisitorSession._meta.db_table} SET status = %s WHERE id = %s "  # noqa: S608
    "RETURNING id, lp_code, liaison_code, utm_source, utm_medium, utm_campaign, landing_page_id"
)


def session_convert(*, session_id: uuid.UUID) -> SessionAttribution | None:
    """Mark a session converted and return its attribution, in one statement
    (the lead intake's hot path); None for an unknown session."""
    if not connection.features.can_return_columns_from_insert:
        return _session_convert_in_two_statements(session_id)  # SQLite before 3.35
    pk = VisitorSession._meta.pk
    with connection.cursor() as cursor:
        cursor.execute(
            _SESSION_CONVERT_SQL,
            [VisitorSession.Status.CONVERTED, pk.get_db_prep_value(session_id, connection)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return SessionAttribution(pk.to_python(row[0]), *row[1:])


def _session_convert_in_two_statements(session_id: uuid.UUID) -> SessionAttribution | None:
    fields = [f.name for f in dataclasses.fields(SessionAttribution)]
    row = VisitorSession.objects.filter(pk=session_id).values_list(*fields).first()
    if row is None:
        return None
    VisitorSession.objects.filter(pk=session_id).update(status=VisitorSession.Status.CONVERTED)
    return SessionAttribution(*row)
