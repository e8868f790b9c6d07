"""Correcting a rejected lead: staff fix a typo (phone, department, postal
code, name), the intake's checks run again, and the lead is sent when it now
passes them; the old values stay in its history (the journal)."""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from enersolar.france import department_from_postal_code, department_normalize
from enersolar.models import ActivityLog
from enersolar.phone import phone_normalize
from enersolar.services import journal_record

from .classification import earlier_leads, lead_classify, phone_lock
from .models import Lead
from .selectors import lead_history
from .services import leads_status_set
from .signals import lead_received

logger = logging.getLogger(__name__)


# --- Correcting a rejected lead -------------------------------------------------------

# The fields staff may correct, and the rejections such a correction can lift
# (a duplicate, a double submit or a refused consent is not a typo).
CORRECTABLE_FIELDS = ("phone", "departement", "code_postal", "nom", "prenom")
CORRECTABLE_STATUSES = (Lead.Status.INVALID_PHONE, Lead.Status.MISSING_REQUIRED)
# The intake's notes about cut or dropped values stay true after a correction.
_KEPT_REASON_PREFIXES = ("VALUE_CUT", "VALUE_REJECTED")


class CorrectionRefused(ValueError):
    """The correction was not applied; `errors` maps a field (or "__all__")
    to a message in words."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class CorrectionResult:
    lead: Lead
    changes: dict  # field -> {"old": ..., "new": ...}
    sent: bool  # the lead passed the intake checks and was handed to delivery


def lead_correction_clean(changes: dict) -> dict:
    """The intake's own rules (enersolar/phone.py, enersolar/france.py) on the
    values staff typed: their stored form, or CorrectionRefused."""
    errors: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    for name, value in changes.items():
        if name not in CORRECTABLE_FIELDS:
            errors[name] = _("This field cannot be corrected.")
            continue
        value = str(value if value is not None else "").strip()
        if name == "phone":
            cleaned[name] = phone_normalize(value) or ""
            if not cleaned[name]:
                errors[name] = _("Invalid French phone number.")
        elif name == "departement":
            cleaned[name] = department_normalize(value) or ""
            if not cleaned[name]:
                errors[name] = _("Unknown department.")
        elif name == "code_postal":
            if not department_from_postal_code(value):
                errors[name] = _("Invalid postal code.")
            cleaned[name] = value
        elif name == "nom":
            if not value:
                errors[name] = _("The last name is required.")
            cleaned[name] = value
        else:
            cleaned[name] = value
    if errors:
        raise CorrectionRefused(errors)
    # As at intake: a postal code alone gives the department.
    if cleaned.get("code_postal") and "departement" not in cleaned:
        cleaned["departement"] = department_from_postal_code(cleaned["code_postal"])
    return cleaned


def lead_correct(*, lead: Lead, changes: dict, user=None) -> CorrectionResult:
    """Correct a rejected lead's phone, department, postal code or name, run
    the intake checks again and, when it now passes them, send it: the same
    hand-off as a new lead (lead_received → routing). Every old value is kept
    in the journal entry (old → new), the lead's history."""
    cleaned = lead_correction_clean(changes)
    now = timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if lead.status not in CORRECTABLE_STATUSES:
            refusal = _("Only a lead rejected for its phone or a missing field can be corrected.")
            raise CorrectionRefused({"__all__": refusal})
        diff = {
            name: {"old": _value_before(lead, name), "new": value}
            for name, value in cleaned.items()
            if getattr(lead, name) != value
        }
        if not diff:
            raise CorrectionRefused({"__all__": _("Nothing was changed.")})
        old_status = lead.status
        for name, change in diff.items():
            setattr(lead, name, change["new"])
        if lead.phone:
            phone_lock(lead.phone)
        # The intake's checks in its order; the double submit (same session
        # within seconds) cannot apply to a lead stored earlier.
        earlier = earlier_leads(lead.phone, None, lead.product_type, now)
        lead_classify(
            lead,
            form_found=lead.form_id is not None or lead.product_type_id is not None,
            earlier=earlier,
            value_reasons=[
                r for r in lead.reasons or [] if str(r).startswith(_KEPT_REASON_PREFIXES)
            ],
        )
        new_status, new_reasons = lead.status, lead.reasons
        lead.status = old_status  # written below by the status' one writer
        lead.save(update_fields=list(diff))
        leads_status_set([lead.pk], new_status, reasons=new_reasons)
        lead.status = new_status
        journal_record(
            user=user,
            action=ActivityLog.Action.UPDATE,
            obj=lead,
            details={
                "correction": diff,
                "from_status": old_status,
                "to_status": new_status,
            },
        )
        sent = new_status == Lead.Status.PENDING
        if sent:
            transaction.on_commit(lambda: lead_received.send(sender=Lead, lead_id=lead.pk))
    logger.info(
        "lead corrected lead=%s fields=%s status=%s->%s",
        lead.pk,
        ",".join(diff),
        old_status,
        new_status,
    )
    return CorrectionResult(lead=lead, changes=diff, sent=sent)


def _value_before(lead: Lead, name: str) -> str:
    # A phone the intake refused is stored only as sent (phone_raw): that is
    # the value staff corrected.
    if name == "phone" and not lead.phone:
        return lead.phone_raw
    return getattr(lead, name)


def lead_corrections(lead: Lead) -> list:
    """The lead's corrections, newest first (its journal entries that carry one)."""
    return list(lead_history(lead).filter(details__has_key="correction"))
