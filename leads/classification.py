"""What the intake decides about a lead before storing it (shared by the
intake and the correction of a rejected lead): its status and reasons, the
earlier leads that make it a double submit or a duplicate, and the per-phone
lock that keeps two simultaneous submits from missing each other."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection

from .models import Lead

DOUBLE_SUBMIT_SECONDS = 5


def lead_classify(
    lead: Lead, *, form_found: bool, earlier: list["EarlierLead"], value_reasons: list[str]
) -> "EarlierLead | None":
    """Set status and reasons; return the original lead of a double submit."""
    reasons: list[str] = []
    statuses: list[str] = []
    if not form_found:
        statuses.append(Lead.Status.ORPHAN)
        reasons.append("PRODUCT_NOT_FOUND" if lead.form_code == "" else "FORM_NOT_FOUND")
    if not lead.phone:
        statuses.append(Lead.Status.INVALID_PHONE)
        reasons.append("PHONE_INVALID")
    missing = [name for name in ("nom", "departement") if not getattr(lead, name).strip()]
    if missing:
        statuses.append(Lead.Status.MISSING_REQUIRED)
        reasons.append("MISSING_REQUIRED:" + ",".join(missing))

    double_of = next((e for e in earlier if e.double_submit), None)
    if double_of is not None:
        statuses.append(Lead.Status.DOUBLE_SUBMIT)
        reasons.append("DOUBLE_SUBMIT_BLOCKED")
    duplicate_of = next((e for e in earlier if e.duplicate), None)
    if duplicate_of is not None:
        statuses.append(Lead.Status.DUPLICATE_INTERNAL)
        reasons.append(f"DUPLICATE:{duplicate_of.id}")
    if not lead.rgpd_consent:
        statuses.append(Lead.Status.NO_CONSENT)
        reasons.append("CONSENT_REFUSED")

    lead.status = statuses[0] if statuses else Lead.Status.PENDING
    lead.reasons = reasons + value_reasons
    return double_of


@dataclass(frozen=True)
class EarlierLead:
    id: uuid.UUID
    double_submit: bool  # same session, last 5 s
    duplicate: bool  # valid lead of the same product inside the dedupe window


# Written by hand: it runs for every lead, and building it with the ORM cost
# several times the query itself. An absent session or a window of 0 is passed
# as NULL, which matches nothing. The first double submit and the oldest
# duplicate are fetched separately (LIMIT 1 each, one row per question), so
# neither can be crowded out however many earlier leads the phone has.
_TABLE = Lead._meta.db_table
_DEDUPE_STATUSES = ", ".join(f"'{status}'" for status in Lead.DEDUPE_STATUSES)
_DOUBLE_SUBMIT = "session_id = %(session)s AND created_at >= %(double_since)s"
_DUPLICATE = (
    f"product_type_id = %(product)s AND status IN ({_DEDUPE_STATUSES})"
    " AND created_at >= %(window_since)s"
)
_EARLIER_LEADS_SQL = f"""
    SELECT * FROM (
        SELECT id, 1, 0 FROM {_TABLE}
        WHERE phone = %(phone)s AND {_DOUBLE_SUBMIT} ORDER BY created_at LIMIT 1
    ) AS first_double_submit
    UNION ALL
    SELECT * FROM (
        SELECT id, 0, 1 FROM {_TABLE}
        WHERE phone = %(phone)s AND {_DUPLICATE} ORDER BY created_at LIMIT 1
    ) AS oldest_duplicate
"""


def earlier_leads(phone: str, session_id: uuid.UUID | None, product_type, now) -> list[EarlierLead]:
    """In one indexed query (phone, created_at): the first earlier lead that
    makes this one a double submit, and the oldest that makes it a duplicate."""
    window = product_type.dedupe_window_days if product_type else 0
    if not phone or (session_id is None and not window):
        return []
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "phone": phone,
        "session": Lead._meta.get_field("session").get_db_prep_value(session_id, connection),
        "double_since": adapt(now - timedelta(seconds=DOUBLE_SUBMIT_SECONDS)),
        "product": product_type.pk if window else None,
        "window_since": adapt(now - timedelta(days=window)),
    }
    with connection.cursor() as cursor:
        cursor.execute(_EARLIER_LEADS_SQL, params)
        rows = cursor.fetchall()
    to_uuid = Lead._meta.pk.to_python
    return [EarlierLead(to_uuid(pk), bool(double), bool(dup)) for pk, double, dup in rows]


def phone_lock(phone: str) -> None:
    """Serialise concurrent intakes of one phone number (PostgreSQL), so two
    simultaneous submits cannot both miss each other in the checks. On SQLite
    the IMMEDIATE transaction already serialises every writer."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [phone])
