"""One mapper per legacy collection: a document in, an Item (a row to write) out.

The field names are the legacy code's own (seed 002: `submit_lead`, the lead
sender, the queue); legacy/README.md lists each field and where it lands."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.text import slugify

from enersolar.france import department_from_postal_code, department_normalize
from enersolar.models import CRM, Account, AccountRouting, QualityMapping
from enersolar.phone import phone_normalize
from leads.models import Lead
from routing.models import Delivery, Order
from tracking.models import Form, LandingPage, TrackingEvent, VisitorSession

from ..models import LegacyRecord, MiniAnalysis
from .copy import Row
from .schema import (
    DELIVERED_STATUSES,
    LEAD_STATUS_ALIASES,
    LEAD_TEXT_FIELDS,
    NOT_DEDUPED,
    OUR_DELIVERED,
    QUEUE_EXHAUSTED,
    QUEUE_PENDING,
    UNSENT_STATUSES,
    UTM,
    S,
)
from .values import (
    Invalid,
    Item,
    as_bool,
    as_decimal,
    as_int,
    as_ip,
    as_text,
    doc_date,
    legacy_uuid,
    objectid_time,
)

# A landing page's URL is a link in the admin: a legacy `javascript:` (or any
# non-web) value must never become clickable.
LP_URL_VALIDATOR = URLValidator(schemes=["http", "https"])


def _web_url(value: str) -> str:
    """`value` when it is an http(s) URL Django accepts, else ""."""
    try:
        LP_URL_VALIDATOR(value)
    except ValidationError:
        return ""
    return value


def _first(doc: dict, *keys: str) -> str:
    """The first non-empty of several names a field went by."""
    for key in keys:
        value = as_text(doc.get(key))
        if value:
            return value
    return ""


class CollectionMappers:
    """Mixed into Importer: uses its reference caches (`_ref`, `_need`, `_product`…)."""

    # --- configuration ---------------------------------------------------------

    def _map_crms(self, line, legacy_id, doc, prepared) -> Item:
        name = as_text(doc.get("name"))
        slug = slugify(as_text(doc.get("slug")) or name)[:50]
        if not slug:
            raise Invalid("MISSING_FIELD", "name/slug missing")
        if self.audit:
            self._planned_slugs.add(slug)
        existing = CRM.objects.filter(slug=slug).first()
        if existing:
            return Item(line, legacy_id, matched=existing)
        obj = CRM(
            **self._fit(
                CRM,
                {
                    "name": name or slug,
                    "slug": slug,
                    "api_url": as_text(doc.get("api_url")),
                    "is_active": as_bool(doc.get("active", doc.get("is_active")), True),
                    "only_ordered_leads": as_bool(doc.get("only_ordered_leads"), True),
                },
            )
        )
        return Item(line, legacy_id, obj=obj)

    def _crm_by_slug(self, slug: str) -> str | None:
        """Our CRM pk of a legacy `target_crm` (a slug: "zr7", "mdl"), or
        "planned" in an audit when this dump would create it."""
        slug = slugify(slug)
        if not slug:
            return None
        if self._crm_slugs is None:
            self._crm_slugs = {s: str(pk) for s, pk in CRM.objects.values_list("slug", "pk")}
        if slug in self._crm_slugs:
            return self._crm_slugs[slug]
        return "planned" if self.audit and slug in self._planned_slugs else None

    def _crm_target(self, entry: dict) -> str | None:
        """The CRM of a routing entry or form override: `target_crm` (slug, as
        the legacy code wrote it), else a `crm_id`."""
        if as_text(entry.get("target_crm")):
            return self._crm_by_slug(as_text(entry.get("target_crm")).lower())
        return self._ref("crms", entry.get("crm_id"))

    def _map_accounts(self, line, legacy_id, doc, prepared) -> Item:
        name = as_text(doc.get("name"))
        if not name:
            raise Invalid("MISSING_FIELD", "name missing")
        crm_pk = self._need("crms", doc, "crm_id")
        existing = Account.objects.filter(name=name).first()
        if existing:
            return Item(line, legacy_id, matched=existing)
        # crm_routing = {"PV": {"target_crm": "zr7", "api_key": "…"}, …}. The
        # legacy intake used an entry only with both a known CRM and a key:
        # an incomplete one is dropped (and noted), the account still imported.
        routings, notes = [], []
        routing = doc.get("crm_routing")
        for product_code, entry in (routing if isinstance(routing, dict) else {}).items():
            product = self._products.get(as_text(product_code).upper())
            entry = entry if isinstance(entry, dict) else {}
            target = self._crm_target(entry)
            key = as_text(entry.get("api_key"))
            if product is None:
                notes.append(("ROUTING_UNKNOWN_PRODUCT", f"crm_routing.{product_code}"))
            elif target is None:
                notes.append(("ROUTING_UNKNOWN_CRM", f"crm_routing.{product_code}: {entry!r}"))
            elif not key:
                notes.append(("ROUTING_WITHOUT_KEY", f"crm_routing.{product_code}"))
            else:
                routings.append((product, target, key))

        def save_routings(account: Account) -> None:
            AccountRouting.objects.bulk_create(
                [
                    AccountRouting(account=account, product_type=p, crm_id=int(c), api_key=key)
                    for p, c, key in routings
                ]
            )

        values = {
            f: as_text(doc.get(f)) for f in ("logo_url", "secondary_logo_url", "redirect_url")
        }
        values |= {f: as_text(doc.get(f)) for f in ("gtm_head", "gtm_body", "gtm_conversion")}
        obj = Account(
            **self._fit(
                Account,
                {
                    "name": name,
                    "origin_crm_id": self._pk(crm_pk),
                    "legal_notice": as_text(doc.get("mentions_legales")),
                    "privacy_text": as_text(doc.get("privacy_text")),
                    **values,
                },
            )
        )
        item = Item(line, legacy_id, obj=obj, after_save=save_routings if routings else None)
        item.notes = notes
        if notes:
            item.extra["crm_routing"] = routing  # as it came, the dropped entries too
        return item

    def _map_lps(self, line, legacy_id, doc, prepared) -> Item:
        code = as_text(doc.get("code")).upper()
        if code:
            existing = LandingPage.objects.filter(code=code).first()
            if existing:
                return Item(line, legacy_id, matched=existing)
        account_pk = self._need("accounts", doc, "account_id")
        status = as_text(doc.get("status")).lower()
        raw_url = as_text(doc.get("url"))
        url = _web_url(raw_url)
        obj = LandingPage(
            **self._fit(
                LandingPage,
                {
                    # No code: drawn from the sequence by save(), as in the admin.
                    "code": code,
                    "name": as_text(doc.get("name")) or code or legacy_id,
                    "account_id": self._pk(account_pk),
                    "url": url,
                    "traffic_source": as_text(doc.get("source")),
                    "status": "archived" if status in ("archived", "inactive") else "active",
                },
            )
        )
        # The LP → form link is ours the other way round (Form.landing_page);
        # keep it for forms without lp_id.
        extra = {"form_id": as_text(doc["form_id"])} if doc.get("form_id") else {}
        if raw_url and not url:
            extra["url"] = raw_url  # refused as a link, kept as it came
        return Item(line, legacy_id, obj=obj, extra=extra)

    def _map_forms(self, line, legacy_id, doc, prepared) -> Item:
        code = as_text(doc.get("code")).upper()
        # Legacy landing pages post this id as form_code: the intake accepts it.
        form_legacy_id = legacy_id.lower()
        if code:
            existing = Form.objects.filter(code=code).first()
            if existing:
                item = Item(line, legacy_id, matched=existing)
                if (
                    not existing.legacy_id
                    and not Form.objects.filter(legacy_id=form_legacy_id).exists()
                ):

                    def set_legacy_id(form: Form) -> None:
                        Form.objects.filter(pk=form.pk).update(legacy_id=form_legacy_id)

                    item.after_save = set_legacy_id
                    item.previous = {"legacy_id": None}  # put back by a rollback
                return item
        product = self._product(doc)
        lp_pk = self._ref("lps", doc.get("lp_id"))
        if lp_pk is None:
            linked = (
                LegacyRecord.objects.filter(collection="lps", extra__form_id=legacy_id)
                .values_list("object_id", flat=True)
                .first()
            )
            lp_pk = linked or (
                "planned" if self.audit and self._lp_planned_for(legacy_id) else None
            )
        if lp_pk is None:
            raise Invalid("MISSING_FIELD" if not doc.get("lp_id") else "UNKNOWN_LP_ID")
        if doc.get("account_id"):
            account_pk = self._need("accounts", doc, "account_id")
        elif lp_pk != "planned":
            account_pk = str(LandingPage.objects.get(pk=lp_pk).account_id)
        else:
            account_pk = "planned"
        # The form's CRM override: target_crm (a slug) + crm_api_key. The
        # legacy intake used it only when both were set and the CRM known.
        notes = []
        crm_pk, override_key = None, as_text(doc.get("crm_api_key"))
        target = as_text(doc.get("target_crm"))
        if target:
            crm_pk = self._crm_target(doc)
            if crm_pk is None:
                notes.append(("OVERRIDE_UNKNOWN_CRM", f"target_crm={target!r}"))
            elif not override_key:
                notes.append(("OVERRIDE_WITHOUT_KEY", f"target_crm={target!r}"))
                crm_pk = None
        if crm_pk is None:
            override_key = ""
        status = as_text(doc.get("status")).lower()
        obj = Form(
            **self._fit(
                Form,
                {
                    "code": code,
                    "name": as_text(doc.get("name")) or code or legacy_id,
                    "product_type": product,
                    "account_id": self._pk(account_pk),
                    "landing_page_id": self._pk(lp_pk),
                    "crm_override_id": self._pk(crm_pk),
                    "crm_override_api_key": override_key,
                    "allow_cross_crm": as_bool(doc.get("allow_cross_crm"), False),
                    "redirect_url": as_text(doc.get("redirect_url")),
                    "status": "archived" if status in ("archived", "inactive") else "active",
                    "legacy_id": form_legacy_id,
                },
            )
        )
        item = Item(line, legacy_id, obj=obj)
        item.notes = notes
        if notes:
            item.extra |= {"target_crm": target, "crm_api_key_set": bool(doc.get("crm_api_key"))}
        return item

    def _lp_planned_for(self, form_legacy_id: str) -> bool:
        return form_legacy_id in self._audit_lp_forms

    def _map_commandes(self, line, legacy_id, doc, prepared) -> Item:
        crm_pk = self._need("crms", doc, "crm_id")
        product = self._product(doc)
        try:
            price = as_decimal(doc.get("prix_unitaire"))
            if not price.is_finite() or price < 0:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise Invalid("BAD_PRICE", f"prix_unitaire={doc.get('prix_unitaire')!r}") from None
        departments = []
        for value in doc.get("departements") or []:
            code = department_normalize(as_text(value))
            if code is None or code not in self._departments:
                raise Invalid("UNKNOWN_DEPARTMENT", f"departements: {value!r}")
            departments.append(code)
        starts, ends = doc_date(doc, "date_debut"), doc_date(doc, "date_fin")
        starts_on = timezone.localdate(starts) if starts else None
        ends_on = timezone.localdate(ends) if ends else None
        if starts_on and ends_on and ends_on < starts_on:
            raise Invalid("BAD_DATES", "date_fin before date_debut")
        obj = Order(
            **self._fit(
                Order,
                {
                    "crm_id": self._pk(crm_pk),
                    "name": as_text(doc.get("name")),
                    "product_type": product,
                    "unit_price": price.quantize(Decimal("0.01")),
                    "is_active": as_bool(doc.get("active"), True),
                    "starts_on": starts_on,
                    "ends_on": ends_on,
                    "cap_daily": as_int(doc.get("limite_jour")),
                    "cap_weekly": as_int(doc.get("limite_semaine")),
                    "cap_monthly": as_int(doc.get("limite_mois")),
                    "priority": as_int(doc.get("priorite")) or 0,
                    "api_key": as_text(doc.get("api_key")),
                },
            )
        )
        return Item(
            line,
            legacy_id,
            obj=obj,
            after_save=(lambda order: order.departments.set(departments)) if departments else None,
        )

    def _map_quality_mappings(self, line, legacy_id, doc, prepared) -> Item:
        campaign, tier = as_text(doc.get("utm_campaign")), as_text(doc.get("quality_tier"))
        if not campaign or not tier:
            raise Invalid("MISSING_FIELD", "utm_campaign/quality_tier missing")
        existing = QualityMapping.objects.filter(utm_campaign=campaign).first()
        if existing:
            return Item(line, legacy_id, matched=existing)
        obj = QualityMapping(
            **self._fit(QualityMapping, {"utm_campaign": campaign, "quality_tier": tier})
        )
        return Item(line, legacy_id, obj=obj)

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
                    "landing_page_id": lp.pk if lp else None,
                    "form_id": form.pk if form else None,
                    "account_id": (lp or form).account_id if (lp or form) else None,
                    "lp_code": as_text(doc.get("lp_code")),
                    "form_code": as_text(doc.get("form_code")),
                    "liaison_code": as_text(doc.get("liaison_code")),
                    "referrer": as_text(doc.get("referrer")),
                    "user_agent": as_text(doc.get("user_agent")),
                    "ip": as_ip(doc.get("ip")),
                    "status": "converted" if status == "converted" else "active",
                    "created_at": created_at,
                    **{f: as_text(doc.get(f)) for f in UTM},
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
        event_type = _first(doc, "event", "event_type")
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
                    "landing_page_id": lp.pk if lp else None,
                    "form_id": form.pk if form else None,
                    "account_id": (lp or form).account_id if (lp or form) else None,
                    "lp_code": as_text(doc.get("lp_code")),
                    "form_code": as_text(doc.get("form_code")),
                    "liaison_code": as_text(doc.get("liaison_code")),
                    "referrer": as_text(doc.get("referrer")),
                    "user_agent": as_text(doc.get("user_agent")),
                    "ip": as_ip(doc.get("ip")),
                    "data": data,
                    "created_at": created_at,
                    **{f: as_text(doc.get(f)) for f in UTM},
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
        raw = _first(doc, "api_status", "status").lower()
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
        if raw in S.values and raw not in UNSENT_STATUSES:
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
        pk = legacy_uuid("leads", legacy_id)
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
        if doc.get("session_id"):
            candidate = legacy_uuid("visitor_sessions", doc["session_id"])
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
            Lead.objects.filter(pk=lead_pk).update(status=new_lead_status)

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
        brand = _first(doc, "nom_de_marque", "brand_name")
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
        if pdf_url and not _web_url(pdf_url):
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
                    "sector": _first(doc, "secteur", "sector"),
                    "language": _first(doc, "language", "langue"),
                    "pdf_url": _web_url(pdf_url),
                    "analysis_text": _first(doc, "analysis_text", "analysis"),
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
