"""Lead intake: store every lead, classified in the order of SPEC §3.1."""

import functools
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from enersolar.api_codes import API_LANGUAGE, api_message
from enersolar.france import department_from_postal_code, department_normalize
from enersolar.models import ApiKey, ProductType
from enersolar.phone import phone_mask, phone_normalize
from enersolar.process_cache import process_caches_clear
from tracking.models import Form
from tracking.selectors import form_by_code_or_id
from tracking.services import session_convert

from .classification import earlier_leads, lead_classify, phone_lock
from .models import Lead
from .selectors import product_by_code, quality_tier
from .signals import lead_received, lead_route_asked

logger = logging.getLogger(__name__)

# Optional text fields copied as they come (already cut to length by the API).
PERSON_FIELDS = Lead.PERSON_FIELDS + Lead.PROJECT_FIELDS


@dataclass(frozen=True)
class IntakeResult:
    lead: Lead
    answer: dict  # the API's answer, the same for every retry of a submission
    replayed: bool = False  # a retry: the answer of the first submission

    @property
    def answer_lead_id(self) -> uuid.UUID:
        """The lead the answer names: the original lead for a double submit."""
        return uuid.UUID(self.answer["lead_id"])

    @property
    def crm(self) -> str | None:
        return self.answer["crm"]

    @property
    def will_be_delivered(self) -> bool:
        return self.lead.status == Lead.Status.PENDING


# What the answer says about a lead that will not be delivered.
WARNINGS = {
    Lead.Status.ORPHAN: _("Form not found: the lead is stored but will not be delivered."),
    Lead.Status.INVALID_PHONE: _(
        "Invalid phone number: the lead is stored but will not be delivered."
    ),
    Lead.Status.MISSING_REQUIRED: _(
        "Missing or invalid required field: the lead is stored but will not be delivered."
    ),
    Lead.Status.DOUBLE_SUBMIT: _(
        "Submitted twice within a few seconds: the first submission counts."
    ),
    Lead.Status.DUPLICATE_INTERNAL: _(
        "This person already asked for this product recently: the lead is stored but will "
        "not be delivered."
    ),
    Lead.Status.NO_CONSENT: _("Consent refused: the lead is stored but will never be delivered."),
}
NOT_DELIVERED = _("The lead will not be delivered.")


@dataclass(frozen=True)
class ConsentProof:
    """Where and how the submission was made (the lead's consent proof)."""

    user_agent: str = ""
    page_url: str = ""


def lead_receive(
    *,
    data: dict,
    ip: str | None,
    source: str = Lead.Source.PUBLIC,
    api_key: ApiKey | None = None,
    raw_payload: dict | None = None,
    value_reasons: tuple[str, ...] | list[str] = (),
    consent: ConsentProof = ConsentProof(),
    idempotency_key: str | None = None,
    field_notes: dict | None = None,
) -> IntakeResult:
    """Store one lead with its status and reasons, in one transaction, and hand
    a valid one to delivery once committed. Never refuses a lead: every check
    that fails is written down, and the first one decides the status.

    `value_reasons` name the values the API had to cut or leave out;
    `idempotency_key` (already scoped to the source) makes a retry of the same
    submission answer the first answer, never store a second lead;
    `field_notes` (per field, what was done with it) go into the answer."""
    store = functools.partial(
        _lead_store,
        data=data,
        ip=ip,
        source=source,
        api_key=api_key,
        raw_payload=data if raw_payload is None else raw_payload,
        value_reasons=list(value_reasons),
        consent=consent,
        idempotency_key=idempotency_key,
        field_notes=field_notes,
    )
    # No look-up first: a retry is rare, and the unique constraint on the key
    # answers it (and a concurrent one) for the price of a rolled-back insert.
    try:
        return store()
    except IntegrityError:
        # A retry of a submission stored before (or concurrently).
        if idempotency_key and (first := _first_submission(idempotency_key)):
            return first
        # The lead points to a form this process had cached and staff deleted
        # since (the transaction was rolled back): store it again from the
        # database rather than lose it.
        logger.warning("lead intake: cached configuration out of date, reloading it")
        process_caches_clear()
        return store()


def _first_submission(idempotency_key: str) -> IntakeResult | None:
    lead = Lead.objects.filter(idempotency_key=idempotency_key).first()
    if lead is None:
        return None
    logger.info("lead submission repeated lead=%s answered as the first", lead.id)
    return IntakeResult(lead=lead, answer=lead.intake_answer, replayed=True)


def _answer(lead: Lead, *, answer_lead_id: uuid.UUID, crm: str | None, notes) -> dict:
    delivered = lead.status == Lead.Status.PENDING
    code = "lead_received" if delivered else "lead_stored"
    answer = {
        "success": True,
        "code": code,
        "lead_id": str(answer_lead_id),
        "status": lead.status,
        "crm": crm,
        "message": api_message(code),
    }
    if not delivered:
        answer["stored"] = True
        with translation.override(API_LANGUAGE):
            answer["warning"] = str(WARNINGS.get(lead.status, NOT_DELIVERED))
        answer["reasons"] = lead.reasons
    if notes is not None:
        answer["fields"] = notes
    return answer


def _lead_store(
    *,
    data: dict,
    ip: str | None,
    source: str,
    api_key: ApiKey | None,
    raw_payload: dict,
    value_reasons: list[str],
    consent: ConsentProof,
    idempotency_key: str | None,
    field_notes: dict | None,
) -> IntakeResult:
    now = timezone.now()
    form = _form_lookup(data.get("form_code") or "", api_key)
    product_type = form.product_type if form else _product_lookup(data, api_key)
    phone = phone_normalize(data.get("phone"))
    departement = (
        department_normalize(data.get("departement"))
        if data.get("departement")
        else department_from_postal_code(data.get("code_postal"))
    )
    session_id = _session_uuid(data.get("session_id"))

    with transaction.atomic():
        if phone:
            phone_lock(phone)
        # Read from the row it updates: one statement instead of a look-up
        # before the transaction and an UPDATE inside it.
        session = session_convert(session_id=session_id) if session_id else None
        utm_campaign = data.get("utm_campaign") or (session.utm_campaign if session else "")
        lead = Lead(
            created_at=now,
            register_date=int(now.timestamp()),
            source=source,
            api_key=api_key,
            session_id=session.id if session else None,
            form=form,
            form_code=(data.get("form_code") or "")[:50],
            account=form.account if form else (api_key.account if api_key else None),
            product_type=product_type,
            landing_page_id=form.landing_page_id
            if form
            else (session.landing_page_id if session else None),
            lp_code=data.get("lp_code")
            or (session.lp_code if session else "")
            or (form.landing_page.code if form else ""),
            liaison_code=data.get("liaison_code")
            or (session.liaison_code if session else "")
            or (form.liaison_code if form else ""),
            ip=ip,
            utm_source=session.utm_source if session else "",
            utm_medium=session.utm_medium if session else "",
            utm_campaign=utm_campaign,
            quality_tier=quality_tier(utm_campaign),
            phone=phone or "",
            phone_raw=str(data.get("phone") or "")[:30],
            email=(data.get("email") or "").strip().lower(),
            departement=departement or "",
            type_logement=data.get("type_logement") or "maison",
            statut_occupant=data.get("statut_occupant") or "proprietaire",
            rgpd_consent=data.get("rgpd_consent", True),
            newsletter=data.get("newsletter", False),
            # An import keeps the consent but not its time: that was not now.
            consent_at=None if source == Lead.Source.IMPORT else now,
            consent_user_agent=consent.user_agent[:500],
            consent_page_url=(data.get("page_url") or consent.page_url)[:2000],
            raw_payload=raw_payload,
            idempotency_key=idempotency_key or "",
            **{f: data.get(f) or "" for f in PERSON_FIELDS},
        )
        earlier = earlier_leads(phone, session_id if session else None, product_type, now)
        original = lead_classify(
            lead,
            form_found=form is not None or product_type is not None,
            earlier=earlier,
            value_reasons=value_reasons,
        )
        crm = _route_preview(lead) if lead.status == Lead.Status.PENDING else None
        answer = _answer(
            lead, answer_lead_id=original.id if original else lead.id, crm=crm, notes=field_notes
        )
        if idempotency_key:
            lead.intake_answer = answer
        lead.save(force_insert=True)
        if lead.status == Lead.Status.PENDING:
            transaction.on_commit(lambda: lead_received.send(sender=Lead, lead_id=lead.id))

    logger.info(
        "lead received lead=%s status=%s phone=%s form=%s",
        lead.id,
        lead.status,
        phone_mask(lead.phone or lead.phone_raw),
        lead.form_code,
    )
    return IntakeResult(lead=lead, answer=answer)


def _form_lookup(code: str, api_key: ApiKey | None) -> Form | None:
    form = form_by_code_or_id(code)
    if form is not None and api_key is not None and form.account_id != api_key.account_id:
        return None  # a partner may only post to its own account's forms
    return form


def _product_lookup(data: dict, api_key: ApiKey | None) -> ProductType | None:
    if api_key is None:
        return None
    return product_by_code(data.get("product_type") or "")


def _session_uuid(session_id) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(session_id))
    except ValueError:
        return None  # an unknown or malformed session does not stop the lead


def _route_preview(lead: Lead) -> str | None:
    """The CRM the routing decision would choose for this lead now: asked of
    routing through lead_route_asked (a read-only dry run of the decision
    itself), so the answer names where the lead goes if nothing changes
    before its delivery."""
    try:
        answers = lead_route_asked.send(sender=Lead, lead=lead)
    except DatabaseError:
        raise  # the transaction is lost anyway: lead_receive's callers see it
    except Exception:
        # A bug in the dry run must not cost the lead: it is stored, and
        # delivered by the real decision; only the answer lacks its CRM.
        logger.exception("lead intake: routing dry run failed, answering no CRM")
        return None
    return next((slug for _, slug in answers if slug is not None), None)


# --- Lead.status: its one writer ----------------------------------------------------


def leads_status_set(leads: QuerySet[Lead] | Iterable, status: str, *, reasons=None) -> int:
    """Set the status of `leads` (a queryset of leads, or their ids) and
    return how many rows changed. The only code that changes `Lead.status`
    after the intake stored it: routing (outcomes, holds, queue actions),
    the nightly verification, billing's returns and the legacy import all
    come through here, so one grep finds every writer. `reasons`, when given,
    replaces the lead's reasons in the same UPDATE (a routing hold)."""
    if not isinstance(leads, QuerySet):
        leads = Lead.objects.filter(pk__in=list(leads))
    also = {} if reasons is None else {"reasons": reasons}
    return leads.update(status=status, **also)


# --- Freshness: too old to be sent, for good ----------------------------------------------------

EXPIRED_REASON = "EXPIRED"


def leads_expire(leads: QuerySet[Lead] | Iterable) -> int:
    """Mark `leads` (a queryset or ids) `expired`, with the reason EXPIRED
    added to their reasons, and return how many. One UPDATE per distinct
    reasons list (held leads share a handful), not one per lead."""
    if not isinstance(leads, QuerySet):
        leads = Lead.objects.filter(pk__in=list(leads))
    by_reasons: dict[tuple, list] = {}
    for pk, reasons in leads.exclude(status=Lead.Status.EXPIRED).values_list("pk", "reasons"):
        reasons = list(reasons or [])
        if EXPIRED_REASON not in reasons:
            reasons.append(EXPIRED_REASON)
        by_reasons.setdefault(tuple(reasons), []).append(pk)
    # Through `leads` again: a lead whose status moved meanwhile (delivered
    # by a worker) no longer matches the caller's filter and is left alone.
    return sum(
        leads_status_set(leads.filter(pk__in=pks), Lead.Status.EXPIRED, reasons=list(reasons))
        for reasons, pks in by_reasons.items()
    )
