"""Mappers of the lead queue (its items found by the CRM's `api_url`) and of
the mini-analyses (seed 004): each becomes a lead kept out of routing."""

from enersolar.models import CRM
from enersolar.phone import phone_normalize
from leads.models import Lead
from leads.services import leads_status_set
from routing.models import Delivery

from ..models import MiniAnalysis
from .schema import (
    OUR_DELIVERED,
    QUEUE_EXHAUSTED,
    QUEUE_PENDING,
    S,
)
from .values import (
    Invalid,
    Item,
    as_int,
    as_text,
    doc_date,
    first_text,
    legacy_uuid,
    objectid_time,
    web_url,
)


class QueueMappers:
    """Mixed into Importer (through CollectionMappers)."""

    def _map_lead_queue(self, line, legacy_id, doc, prepared) -> Item:
        if not doc.get("lead_id"):
            raise Invalid("MISSING_FIELD", "lead_id missing")
        lead_pk = legacy_uuid("leads", doc["lead_id"])
        lead_status, origin_crm_pk = prepared["leads"].get(lead_pk, (None, None))
        if lead_status is None and not (
            self.audit and as_text(doc["lead_id"]) in self._planned.get("leads", ())
        ):
            raise Invalid("UNKNOWN_LEAD_ID", f"lead_id={doc['lead_id']!r}")
        if lead_status in OUR_DELIVERED:
            # The buyer has it: a queue item left over must not send it again.
            raise Invalid("LEAD_DELIVERED", f"the lead is {lead_status}: nothing left to send")
        if lead_pk in prepared["delivered"]:
            raise Invalid("ALREADY_IN_QUEUE", "the lead already has a delivery")
        status = as_text(doc.get("status")).lower() or "pending"
        if status in QUEUE_PENDING:
            state, new_lead_status = Delivery.State.PENDING, S.QUEUED
        elif status in QUEUE_EXHAUSTED:
            state, new_lead_status = Delivery.State.EXHAUSTED, S.FAILED
        else:
            raise Invalid("QUEUE_ITEM_DONE", f"status={status!r}: nothing left to send")
        # The legacy queue item knew its target by URL (`api_url`); its lead
        # by slug (`target_crm`). An older shape had `crm_id`.
        target_crm, routing_source = prepared["lead_targets"].get(lead_pk, ("", ""))
        crm_pk = (
            self._ref("crms", doc.get("crm_id"))
            or self._crm_by_api_url(as_text(doc.get("api_url")))
            or (self._crm_by_slug(target_crm) if target_crm else None)
        )
        if crm_pk is None and not self.audit:
            raise Invalid("UNKNOWN_CRM", f"api_url={doc.get('api_url')!r}, lead's target_crm")
        source = (
            Delivery.Source.FORM_OVERRIDE
            if routing_source == "form_override" and lead_pk in prepared["override_forms"]
            else Delivery.Source.ACCOUNT_ROUTING
        )
        next_at = doc_date(doc, "next_retry_at")
        if state == Delivery.State.PENDING:
            next_at = next_at or self.now
        routed_at = doc_date(doc, "created_at") or self.now
        obj = Delivery(
            **self._fit(
                Delivery,
                {
                    "lead_id": lead_pk,
                    # The key is read at send time from the imported routing
                    # (the account's entry or the form's override), never
                    # from the item's copy. No order and no price: nothing is
                    # billed on a guess.
                    "crm_id": self._pk(crm_pk),
                    "origin_crm_id": origin_crm_pk,
                    "source": source,
                    "reason": "legacy queue item",
                    "order": None,
                    "unit_price": None,
                    "routed_at": routed_at,
                    "state": state,
                    "attempts": min(as_int(doc.get("retry_count")) or 0, 32000),
                    "next_attempt_at": next_at,
                    "last_error": as_text(doc.get("last_error")) or as_text(doc.get("reason")),
                },
            )
        )

        def set_lead_status(delivery: Delivery) -> None:
            leads_status_set([lead_pk], new_lead_status)

        return Item(
            line,
            legacy_id,
            obj=obj,
            previous={"lead_status": lead_status} if lead_status else {},
            after_save=set_lead_status,
        )

    def _crm_by_api_url(self, url: str) -> str | None:
        if not url:
            return None
        if self._crm_urls is None:
            self._crm_urls = {
                u.rstrip("/"): str(pk)
                for u, pk in CRM.objects.exclude(api_url="").values_list("api_url", "pk")
            }
        return self._crm_urls.get(url.rstrip("/"))

    # --- mini-analyses (seed 004) -----------------------------------------------------

    def _map_mini_analyses(self, line, legacy_id, doc, prepared) -> Item:
        email = as_text(doc.get("email")).lower()
        brand = first_text(doc, "nom_de_marque", "brand_name")
        if not email:
            raise Invalid("MISSING_FIELD", "email missing")
        # The migration's own rule: one lead per e-mail + brand.
        key = (email, brand.lower())
        existing = prepared["by_identity"].get(key)
        if existing is not None:
            item = Item(line, legacy_id, matched=Lead(pk=existing))
            item.listed = f"{brand or '-'} | {email} (already linked)"
            return item
        created_at = doc_date(doc, "created_at") or objectid_time(doc.get("_id")) or self.now
        updated_at = doc_date(doc, "updated_at")
        raw_status = as_text(doc.get("status")).upper()
        # Without a status of its own: GENERATED, as the migration of seed 004 did.
        known = raw_status in MiniAnalysis.Status.values
        status = raw_status if known else MiniAnalysis.Status.GENERATED
        notes = []
        if raw_status and raw_status != status:
            notes.append(("UNKNOWN_STATUS", f"status={doc.get('status')!r} kept as {status}"))
        raw_phone = as_text(doc.get("phone"))
        pdf_url = as_text(doc.get("pdf_url"))
        if pdf_url and not web_url(pdf_url):
            notes.append(("BAD_PDF_URL", f"pdf_url={pdf_url[:80]!r} kept aside"))
        pk = legacy_uuid("mini_analyses", legacy_id)
        obj = Lead(
            **self._fit(
                Lead,
                {
                    "id": pk,
                    # Not a solar lead: no form, account or product, so no
                    # routing and no billing; "Relancer" routes it on demand.
                    "status": S.NO_CRM,
                    "reasons": ["MINI_ANALYSIS_MIGRATION", f"MINI_ANALYSIS:{status}"],
                    "source": Lead.Source.IMPORT,
                    "created_at": created_at,
                    "register_date": int(created_at.timestamp()),
                    "email": email,
                    "phone": phone_normalize(raw_phone) or "",
                    "phone_raw": raw_phone,
                    "type_logement": "",
                    "statut_occupant": "",
                },
            )
        )
        analysis = MiniAnalysis(
            **self._fit(
                MiniAnalysis,
                {
                    "mini_analysis_id": legacy_id,
                    "status": status,
                    "brand_name": brand,
                    "sector": first_text(doc, "secteur", "sector"),
                    "language": first_text(doc, "language", "langue"),
                    "pdf_url": web_url(pdf_url),
                    "analysis_text": first_text(doc, "analysis_text", "analysis"),
                    "original_created_at": created_at,
                    "original_updated_at": updated_at,
                    "migrated_at": self.now,
                    "batch": self.batch,
                    "notes": "Migrated from mini-analysis collection on "
                    f"{self.now:%Y-%m-%d %H:%M} UTC",
                },
            )
        )

        def save_analysis(lead: Lead) -> None:
            analysis.lead = lead
            analysis.save(force_insert=True)

        prepared["by_identity"][key] = pk
        item = Item(line, legacy_id, obj=obj, after_save=save_analysis)
        item.notes = notes
        item.listed = f"{brand or '-'} | {email}"
        if pdf_url and not analysis.pdf_url:
            item.extra["pdf_url"] = pdf_url
        return item
