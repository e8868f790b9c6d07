"""Mappers of the traffic and lead collections: visitor sessions, tracking
events, leads (identity de-duplication), the lead queue, mini-analyses."""

from datetime import UTC, datetime, timedelta

from enersolar.france import department_from_postal_code, department_normalize
from leads.models import Lead
from tracking.models import Form, TrackingEvent, VisitorSession

from .copy import Row
from .schema import (
    DELIVERED_STATUSES,
    LEAD_STATUS_ALIASES,
    LEAD_STATUSES,
    LEAD_TEXT_FIELDS,
    NOT_DEDUPED,
    OUR_DELIVERED,
    UNSENT_STATUSES,
    UTM,
    S,
)
from .values import (
    Invalid,
    Item,
    as_bool,
    as_int,
    as_ip,
    as_text,
    doc_date,
    first_text,
    legacy_uuid,
    objectid_time,
)


def _visit_fields(doc: dict, lp, form) -> dict:
    """What a visitor session and a tracking event both say of the visit."""
    return {
        "landing_page_id": lp.pk if lp else None,
        "form_id": form.pk if form else None,
        "account_id": (lp or form).account_id if (lp or form) else None,
        "lp_code": as_text(doc.get("lp_code")),
        "form_code": as_text(doc.get("form_code")),
        "liaison_code": as_text(doc.get("liaison_code")),
        "referrer": as_text(doc.get("referrer")),
        "user_agent": as_text(doc.get("user_agent")),
        "ip": as_ip(doc.get("ip")),
        **{f: as_text(doc.get(f)) for f in UTM},
    }


class LeadMappers:
    """Mixed into Importer (through CollectionMappers): uses its reference
    caches (`_ref`, `_need`, `_product`…)."""

    # --- visitors ----------------------------------------------------------------

    def _form_of(self, doc: dict) -> Form | None:
        """A document's form: by legacy `form_id`, else `form_code` as the
        legacy intake took it (a code, or a form's legacy id)."""
        self._forms_by_code()
        if doc.get("form_id"):
            form = self._form_by_legacy.get(as_text(doc["form_id"]).lower())
            if form is not None:
                return form
        code = as_text(doc.get("form_code"))
        return self._form_cache.get(code.upper()) or self._form_by_legacy.get(code.lower())

    def _map_visitor_sessions(self, line, legacy_id, doc, prepared) -> Item:
        pk = legacy_uuid("visitor_sessions", legacy_id)
        if pk in prepared["existing"]:
            return Item(line, legacy_id, matched=VisitorSession(pk=pk))
        created_at = doc_date(doc, "created_at") or objectid_time(doc.get("_id"))
        if created_at is None:
            raise Invalid("MISSING_FIELD", "created_at missing")
        form = self._form_of(doc)
        lp = self._lp_cache.get(as_text(doc.get("lp_code")).upper())
        status = as_text(doc.get("status")).lower()
        obj = VisitorSession(
            **self._fit(
                VisitorSession,
                {
                    "id": pk,
                    "visitor_id": as_text(doc.get("visitor_id")) or str(pk),
                    **_visit_fields(doc, lp, form),
                    "status": "converted" if status == "converted" else "active",
                    "created_at": created_at,
                },
            )
        )
        return Item(line, legacy_id, obj=obj)

    def _map_tracking(self, line, legacy_id, doc, prepared) -> Item:
        if not doc.get("session_id"):
            raise Invalid("MISSING_FIELD", "session_id missing")
        session_pk = legacy_uuid("visitor_sessions", doc["session_id"])
        if session_pk not in prepared["sessions"] and not (
            self.audit and as_text(doc["session_id"]) in self._planned.get("visitor_sessions", ())
        ):
            raise Invalid("UNKNOWN_SESSION_ID", f"session_id={doc['session_id']!r}")
        # The legacy code wrote the type as `event`.
        event_type = first_text(doc, "event", "event_type")
        if not event_type:
            raise Invalid("MISSING_FIELD", "event missing")
        if event_type in TrackingEvent.ONCE_PER_SESSION:
            key = (session_pk, event_type)
            if key in prepared["once"]:
                raise Invalid("DUPLICATE_EVENT", f"{event_type} already recorded for the session")
            prepared["once"].add(key)
        created_at = doc_date(doc, "created_at") or objectid_time(doc.get("_id"))
        if created_at is None:
            raise Invalid("MISSING_FIELD", "created_at missing")
        form = self._form_of(doc)
        lp_pk = self._ref("lps", doc.get("lp_id")) if doc.get("lp_id") else None
        lp = self._lp_by_pk.get(self._pk(lp_pk)) or self._lp_cache.get(
            as_text(doc.get("lp_code")).upper()
        )
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        obj = TrackingEvent(
            **self._fit(
                TrackingEvent,
                {
                    "session_id": session_pk,
                    "event_type": event_type,
                    **_visit_fields(doc, lp, form),
                    "data": data,
                    "created_at": created_at,
                },
            )
        )
        return Item(line, legacy_id, obj=obj)

    # --- leads ---------------------------------------------------------------------

    @staticmethod
    def _lead_status(doc: dict) -> tuple[str, list[str]]:
        """Our status of a legacy lead, and the reasons it adds.

        The legacy code wrote `api_status` (older dumps: `status`) and
        `sent_to_crm`. A lead the buyer has (`success`, `duplicate`, or
        `sent_to_crm: true` whatever the status says) is delivered here: no
        delivery row, so neither the queue, "Relancer" nor the verification
        can ever send it again."""
        raw = first_text(doc, "api_status", "status").lower()
        reasons = doc.get("reasons") if isinstance(doc.get("reasons"), list) else []
        reasons = [str(r) for r in reasons]
        if as_bool(doc.get("sent_to_crm"), False) or raw in DELIVERED_STATUSES:
            status = S.DUPLICATE if raw in ("duplicate", "doublon") else S.SUCCESS
            if raw not in ("success", "duplicate"):
                reasons.append(f"LEGACY_STATUS:{raw or 'none'}")
            target = as_text(doc.get("target_crm")).lower()
            if target and target != "none":
                reasons.append(f"LEGACY_CRM:{target}")
            return status, reasons
        if raw in LEAD_STATUSES and raw not in UNSENT_STATUSES:
            status = raw
        elif raw in LEAD_STATUS_ALIASES:
            status = LEAD_STATUS_ALIASES[raw]
            reasons.append(f"LEGACY_STATUS:{raw}")
        elif raw in UNSENT_STATUSES:
            status = S.FAILED
            reasons.append(f"LEGACY_UNSENT:{raw}")
        else:
            status = S.FAILED
            reasons.append(f"LEGACY_STATUS:{raw or 'none'}")
        # Why the legacy system did not deliver it (FORM_NOT_FOUND,
        # PHONE_INVALID, MISSING_REQUIRED:nom, CRM_NOT_CONFIGURED…).
        why = as_text(doc.get("distribution_reason"))
        if why and why.isupper() and why not in reasons:
            reasons.append(why)
        return status, reasons

    def _map_leads(self, line, legacy_id, doc, prepared) -> Item:
        pk = prepared["pks"][line]
        if pk in prepared["existing"]:
            return Item(line, legacy_id, matched=Lead(pk=pk))
        created_at = doc_date(doc, "created_at") or objectid_time(doc.get("_id"))
        if created_at is None:
            register = as_int(doc.get("register_date"))
            if register is None:
                raise Invalid("MISSING_FIELD", "created_at missing")
            created_at = datetime.fromtimestamp(register, tz=UTC)
        form = self._form_of(doc)
        account_pk = (
            form.account_id if form else self._pk(self._ref("accounts", doc.get("account_id")))
        )
        product = (
            form.product_type
            if form
            else self._products.get(as_text(doc.get("product_type")).upper())
        )
        raw_phone = as_text(doc.get("phone"))
        phone = prepared["phones"].get(line) or ""
        status, reasons = self._lead_status(doc)

        # One person, two legacy ids: linked to the lead we have, not created.
        original = self._identity_match(prepared, phone, product, created_at, status)
        if original is not None:
            whole = {k: v for k, v in doc.items() if k != "_id"}
            item = Item(line, legacy_id, matched=Lead(pk=original), extra=whole)
            item.duplicate_of = original
            return item

        session_pk = None
        candidate = prepared["session_pks"].get(line)
        if candidate in prepared["sessions"]:
            session_pk = candidate
        lp_code = as_text(doc.get("lp_code"))
        landing_page = form.landing_page if form else self._lp_cache.get(lp_code.upper())
        departement = department_normalize(as_text(doc.get("departement"))) or (
            department_from_postal_code(as_text(doc.get("code_postal"))) or ""
        )
        register_date = as_int(doc.get("register_date")) or int(created_at.timestamp())
        values = {f: as_text(doc.get(f)) for f in LEAD_TEXT_FIELDS}
        values["lp_code"] = lp_code or (landing_page.code if landing_page else "")
        obj = Row(
            Lead,
            self._fit(
                Lead,
                {
                    **values,
                    "id": pk,
                    "status": status,
                    "reasons": reasons,
                    "source": Lead.Source.IMPORT,
                    "created_at": created_at,
                    "register_date": register_date,
                    "session_id": session_pk,
                    "form_id": form.pk if form else None,
                    "form_code": as_text(doc.get("form_code")),
                    "account_id": account_pk,
                    "product_type_id": product.pk if product else None,
                    "landing_page_id": landing_page.pk if landing_page else None,
                    "ip": as_ip(doc.get("ip")),
                    "phone": phone,
                    "phone_raw": raw_phone,
                    "email": as_text(doc.get("email")).lower(),
                    "departement": departement,
                    "rgpd_consent": as_bool(doc.get("rgpd_consent"), True),
                    "newsletter": as_bool(doc.get("newsletter"), False),
                },
            ),
        )
        self._identity_remember(prepared, phone, product, created_at, status, pk)
        return Item(line, legacy_id, obj=obj)

    def _identity_match(self, prepared, phone, product, created_at, status):
        """The pk of a lead of the same person (normalised phone + product)
        within the product's duplicate window, or None. A lead the buyer has
        is never folded into one it does not have (that one could be sent
        again): it is imported on its own."""
        window = product.dedupe_window_days if product else 0
        if not phone or not window or status in NOT_DEDUPED:
            return None
        limit = timedelta(days=window)
        delivered = status in OUR_DELIVERED
        for pk, when, other_delivered in self._identities(prepared, phone, product.pk):
            if abs(when - created_at) <= limit and (other_delivered or not delivered):
                return pk
        return None

    def _identities(self, prepared, phone, product_pk):
        yield from prepared["identities"].get((phone, product_pk), ())
        if self.audit:
            # Nothing written: earlier chunks' leads are only in memory.
            for when, pk, delivered in self._audit_identities.get((phone, product_pk), ()):
                yield pk, datetime.fromtimestamp(when, tz=UTC), delivered

    def _identity_remember(self, prepared, phone, product, created_at, status, pk) -> None:
        if not phone or product is None or status in NOT_DEDUPED or status == S.DOUBLE_SUBMIT:
            return
        entry = (pk, created_at, status in OUR_DELIVERED)
        prepared["identities"].setdefault((phone, product.pk), []).append(entry)
        if self.audit:
            self._audit_identities.setdefault((phone, product.pk), []).append(
                (int(created_at.timestamp()), pk, status in OUR_DELIVERED)
            )
