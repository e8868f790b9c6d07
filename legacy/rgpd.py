"""RGPD (SPEC §11): retention purge and erasure of one person's data.

Anonymisation blanks what identifies a person and keeps what the business
counts: status, dates, product, department, account, form, UTM, prices,
deliveries and statement lines are untouched, so aggregates and billing
totals stay exactly as they were. Writes are set-based (one UPDATE per chunk
of ids), never a loop over leads."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from django.db import transaction
from django.utils import timezone

from enersolar.models import ActivityLog
from enersolar.phone import phone_normalize
from enersolar.services import journal_record
from leads.models import Lead
from tracking.models import TrackingEvent, VisitorSession

from .models import LegacyRecord
from .signals import personal_data_erased, personal_data_expired

ANONYMISED = "anonymised"
CHUNK = 5000

# The person: blanked (nom keeps a stable marker so staff see what happened).
LEAD_ANONYMOUS_VALUES = {
    "nom": ANONYMISED,
    "prenom": "",
    "civilite": "",
    "email": "",
    "phone": "",
    "phone_raw": "",
    "adresse": "",
    "code_postal": "",
    "ville": "",
    "ip": None,
}
SESSION_ANONYMOUS_VALUES = {"ip": None, "user_agent": "", "referrer": "", "visitor_id": ANONYMISED}
EVENT_ANONYMOUS_VALUES = {"ip": None, "user_agent": "", "referrer": ""}


@dataclass
class RgpdResult:
    leads: int = 0
    sessions: int = 0
    events: int = 0


def parse_age(text: str) -> tuple[int, str]:
    """'3y', '18m', '90d' → (3, 'y')…"""
    match = re.fullmatch(r"\s*(\d+)\s*([ymd])\s*", text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration like 3y, 18m or 90d, not {text!r}")
    return int(match.group(1)), match.group(2)


def cutoff_for(text: str, now: datetime | None = None) -> datetime:
    amount, unit = parse_age(text)
    now = now or timezone.now()
    if unit == "d":
        return now - timedelta(days=amount)
    months = amount * 12 if unit == "y" else amount
    year, month = divmod(now.year * 12 + now.month - 1 - months, 12)
    day = min(now.day, 28 if month + 1 == 2 else 30 if month + 1 in (4, 6, 9, 11) else 31)
    return now.replace(year=year, month=month + 1, day=day)


def _chunks(iterator, size=CHUNK):
    iterator = iter(iterator)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _anonymise(lead_ids: list) -> RgpdResult:
    """Anonymise these leads, their sessions and events and unmapped legacy
    fields (one UPDATE per table); apps holding copies erase theirs on the signal."""
    result = RgpdResult()
    result.leads = Lead.objects.filter(pk__in=lead_ids).update(**LEAD_ANONYMOUS_VALUES)
    sessions = VisitorSession.objects.filter(leads__in=lead_ids).values("pk")
    result.events = TrackingEvent.objects.filter(session__in=sessions).update(
        **EVENT_ANONYMOUS_VALUES
    )
    result.sessions = VisitorSession.objects.filter(pk__in=sessions).update(
        **SESSION_ANONYMOUS_VALUES
    )
    personal_data_erased.send(sender=_anonymise, lead_ids=lead_ids)
    LegacyRecord.objects.filter(
        collection="leads", object_id__in=[str(i) for i in lead_ids]
    ).update(extra={})
    return result


def leads_purge(*, older_than: str = "3y", dry_run: bool = False, user=None) -> RgpdResult:
    """Anonymise every lead (and session) older than the retention period."""
    cutoff = cutoff_for(older_than)
    leads = (
        Lead.objects.filter(created_at__lt=cutoff)
        .exclude(nom=ANONYMISED, phone="", email="")
        .order_by()
    )
    sessions = VisitorSession.objects.filter(created_at__lt=cutoff).exclude(visitor_id=ANONYMISED)
    if dry_run:
        return RgpdResult(leads=leads.count(), sessions=sessions.count())
    total = RgpdResult()
    ids = leads.values_list("pk", flat=True)
    # Chunks of ids read once: each chunk is its own short transaction, so a
    # purge of millions of rows never holds long locks.
    for chunk in _chunks(ids.iterator(chunk_size=CHUNK)):
        with transaction.atomic():
            done = _anonymise(chunk)
        total.leads += done.leads
        total.sessions += done.sessions
        total.events += done.events
    # Sessions that never became a lead (and their events).
    for chunk in _chunks(sessions.values_list("pk", flat=True).iterator(chunk_size=CHUNK)):
        with transaction.atomic():
            total.events += TrackingEvent.objects.filter(session__in=chunk).update(
                **EVENT_ANONYMOUS_VALUES
            )
            total.sessions += VisitorSession.objects.filter(pk__in=chunk).update(
                **SESSION_ANONYMOUS_VALUES
            )
    personal_data_expired.send(sender=leads_purge, cutoff=cutoff)
    journal_record(
        user=user,
        action=ActivityLog.Action.OTHER,
        details={
            "action": "rgpd_purge",
            "older_than": older_than,
            "cutoff": cutoff.isoformat(),
            "leads": total.leads,
            "sessions": total.sessions,
            "events": total.events,
        },
    )
    return total


def person_leads(*, phone: str | None = None, email: str | None = None):
    """Every lead of one person, by phone (any format) and/or e-mail."""
    if not phone and not email:
        raise ValueError("a phone number or an e-mail address is needed")
    leads = Lead.objects.none()
    if phone:
        normalised = phone_normalize(phone)
        leads |= Lead.objects.filter(phone_raw=phone.strip())
        if normalised:
            leads |= Lead.objects.filter(phone=normalised)
    if email:
        leads |= Lead.objects.filter(email=email.strip().lower())
    return leads


@transaction.atomic
def person_erase(
    *, phone: str | None = None, email: str | None = None, user=None, via: str = "command"
) -> RgpdResult:
    """Erase one person's personal data: all their leads, their sessions'
    IP and user agent. The journal says who did it and how many rows, never
    the phone or e-mail itself."""
    ids = list(person_leads(phone=phone, email=email).values_list("pk", flat=True))
    result = _anonymise(ids) if ids else RgpdResult()
    journal_record(
        user=user,
        action=ActivityLog.Action.OTHER,
        details={
            "action": "rgpd_erase",
            "by": "+".join(k for k, v in (("phone", phone), ("email", email)) if v),
            "via": via,
            "leads": result.leads,
            "sessions": result.sessions,
            "lead_ids": [str(i) for i in ids[:100]],
        },
    )
    return result
