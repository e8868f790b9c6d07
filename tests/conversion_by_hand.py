"""The conversion counted by hand, in Python over every row, for the tests
that compare it with the selectors' SQL (tracking.selectors)."""

from datetime import datetime

from leads.models import Lead
from tracking.models import Form, TrackingEvent
from tracking.selectors import BEGINNING


def by_hand(form: Form, *, since: datetime | None = None) -> tuple[int, int, int]:
    """(started, finished, direct) of `form` since `since` (default: its
    last reset), counted in Python over every row."""
    since = since or form.stats_reset_at or BEGINNING
    events = [e for e in TrackingEvent.objects.all() if e.event_type == "form_start"]
    started_sessions = {e.session_id for e in events if e.form_id == form.pk}
    starts = [e for e in events if e.form_id == form.pk and e.created_at >= since]
    accepted = [
        lead
        for lead in Lead.objects.all()
        if lead.form_id == form.pk and lead.status not in Lead.REJECTED_STATUSES
    ]
    with_a_lead = {lead.session_id for lead in accepted}
    finished = [e for e in starts if e.session_id in with_a_lead]
    direct = [
        lead
        for lead in accepted
        if lead.created_at >= since and lead.session_id not in started_sessions
    ]
    return len(starts), len(finished), len(direct)
