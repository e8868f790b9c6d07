"""One mapper per legacy collection: a document in, an Item (a row to write) out."""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.text import slugify

from enersolar.france import department_from_postal_code, department_normalize
from enersolar.models import CRM, Account, AccountRouting
from enersolar.phone import phone_normalize
from leads.models import Lead
from leads.services import leads_status_set
from routing.models import Delivery, Order
from tracking.models import Form, LandingPage, TrackingEvent, VisitorSession

from ..models import LegacyRecord
from .schema import (
    LEAD_STATUS_ALIASES,
    LEAD_TEXT_FIELDS,
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
    as_int,
    as_ip,
    as_text,
    doc_date,
    fit_to_columns,
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


class CollectionMappers:
    """Mixed into Importer: uses its reference caches (`_ref`, `_need`, `_product`…)."""

    def _map_crms(self, line, legacy_id, doc, prepared) -> Item:
        name = as_text(doc.get("name"))
        slug = slugify(as_text(doc.get("slug")) or name)[:50]
        if not slug:
            raise Invalid("MISSING_FIELD", "name/slug missing")
        existing = CRM.objects.filter(slug=slug).first()
        if existing:
            return Item(line, legacy_id, matched=existing)
        obj = CRM(
            **fit_to_columns(
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

    def _map_accounts(self, line, legacy_id, doc, prepared) -> Item:
        name = as_text(doc.get("name"))
        if not name:
            raise Invalid("MISSING_FIELD", "name missing")
        crm_pk = self._need("crms", doc, "crm_id")
        existing = Account.objects.filter(name=name).first()
        if existing:
            return Item(line, legacy_id, matched=existing)
        routings = []
        for product_code, entry in (doc.get("routing") or {}).items():
            product = self._products.get(as_text(product_code).upper())
            target = self._ref("crms", (entry or {}).get("crm_id"))
            if product is None or target is None:
                raise Invalid("BAD_ROUTING", f"routing {product_code}: {entry!r}")
            routings.append((product, target, as_text(entry.get("api_key"))))

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
            **fit_to_columns(
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
        return Item(line, legacy_id, obj=obj, after_save=save_routings if routings else None)

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
            **fit_to_columns(
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
        if code:
            existing = Form.objects.filter(code=code).first()
            if existing:
                return Item(line, legacy_id, matched=existing)
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
        crm_pk = self._ref("crms", doc.get("crm_id")) if doc.get("crm_id") else None
        if doc.get("crm_id") and crm_pk is None:
            raise Invalid("UNKNOWN_CRM_ID", f"crm_id={doc.get('crm_id')!r}")
        status = as_text(doc.get("status")).lower()
        obj = Form(
            **fit_to_columns(
                Form,
                {
                    "code": code,
                    "name": as_text(doc.get("name")) or code or legacy_id,
                    "product_type": product,
                    "account_id": self._pk(account_pk),
                    "landing_page_id": self._pk(lp_pk),
                    "crm_override_id": self._pk(crm_pk),
                    "crm_override_api_key": as_text(doc.get("api_key")),
                    "allow_cross_crm": as_bool(doc.get("allow_cross_crm"), False),
                    "redirect_url": as_text(doc.get("redirect_url")),
                    "status": "archived" if status in ("archived", "inactive") else "active",
                },
            )
        )
        return Item(line, legacy_id, obj=obj)

    def _lp_planned_for(self, form_legacy_id: str) -> bool:
        return form_legacy_id in self._audit_lp_forms

    def _map_commandes(self, line, legacy_id, doc, prepared) -> Item:
        crm_pk = self._need("crms", doc, "crm_id")
        product = self._product(doc)
        try:
            price = Decimal(str(doc.get("prix_unitaire")))
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
            **fit_to_columns(
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

    def _map_visitor_sessions(self, line, legacy_id, doc, prepared) -> Item:
        pk = legacy_uuid("visitor_sessions", legacy_id)
        if pk in prepared["existing"]:
            return Item(line, legacy_id, matched=VisitorSession(pk=pk))
        created_at = doc_date(doc, "created_at") or objectid_time(doc.get("_id"))
        if created_at is None:
            raise Invalid("MISSING_FIELD", "created_at missing")
        forms = self._forms_by_code()
        lp = self._lp_cache.get(as_text(doc.get("lp_code")).upper())
        form = forms.get(as_text(doc.get("form_code")).upper())
        status = as_text(doc.get("status")).lower()
        obj = VisitorSession(
            **fit_to_columns(
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
        event_type = as_text(doc.get("event_type"))
        if not event_type:
            raise Invalid("MISSING_FIELD", "event_type missing")
        if event_type in TrackingEvent.ONCE_PER_SESSION:
            key = (session_pk, event_type)
            if key in prepared["once"]:
                raise Invalid("DUPLICATE_EVENT", f"{event_type} already recorded for the session")
            prepared["once"].add(key)
        created_at = doc_date(doc, "created_at") or objectid_time(doc.get("_id"))
        if created_at is None:
            raise Invalid("MISSING_FIELD", "created_at missing")
        forms = self._forms_by_code()
        lp = self._lp_cache.get(as_text(doc.get("lp_code")).upper())
        form = forms.get(as_text(doc.get("form_code")).upper())
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        obj = TrackingEvent(
            **fit_to_columns(
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
        form = prepared["forms"].get(as_text(doc.get("form_code")).upper())
        if form is None and doc.get("form_id"):
            form_pk = self._pk(self._ref("forms", doc.get("form_id")))
            form = self._form_by_pk.get(form_pk)
        account_pk = (
            form.account_id if form else self._pk(self._ref("accounts", doc.get("account_id")))
        )
        product = (
            form.product_type
            if form
            else self._products.get(as_text(doc.get("product_type")).upper())
        )
        session_pk = None
        if doc.get("session_id"):
            candidate = legacy_uuid("visitor_sessions", doc["session_id"])
            if candidate in prepared["sessions"]:
                session_pk = candidate
        lp_code = as_text(doc.get("lp_code"))
        landing_page = form.landing_page if form else self._lp_cache.get(lp_code.upper())

        raw_phone = as_text(doc.get("phone"))
        phone = phone_normalize(raw_phone) or ""
        departement = department_normalize(as_text(doc.get("departement"))) or (
            department_from_postal_code(as_text(doc.get("code_postal"))) or ""
        )
        raw_status = as_text(doc.get("status")).lower()
        reasons = doc.get("reasons") if isinstance(doc.get("reasons"), list) else []
        reasons = [str(r) for r in reasons]
        if raw_status in S.values and raw_status not in UNSENT_STATUSES:
            status = raw_status
        elif raw_status in LEAD_STATUS_ALIASES:
            status = LEAD_STATUS_ALIASES[raw_status]
            reasons.append(f"LEGACY_STATUS:{raw_status}")
        elif raw_status in UNSENT_STATUSES:
            status = S.FAILED
            reasons.append(f"LEGACY_UNSENT:{raw_status}")
        else:
            status = S.FAILED
            reasons.append(f"LEGACY_STATUS:{raw_status or 'none'}")
        register_date = as_int(doc.get("register_date")) or int(created_at.timestamp())
        values = {f: as_text(doc.get(f)) for f in LEAD_TEXT_FIELDS}
        values["lp_code"] = lp_code or (landing_page.code if landing_page else "")
        obj = Lead(
            **fit_to_columns(
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
            )
        )
        return Item(line, legacy_id, obj=obj)

    def _map_lead_queue(self, line, legacy_id, doc, prepared) -> Item:
        if not doc.get("lead_id"):
            raise Invalid("MISSING_FIELD", "lead_id missing")
        lead_pk = legacy_uuid("leads", doc["lead_id"])
        lead_status, origin_crm_pk = prepared["leads"].get(lead_pk, (None, None))
        if lead_status is None and not (
            self.audit and as_text(doc["lead_id"]) in self._planned.get("leads", ())
        ):
            raise Invalid("UNKNOWN_LEAD_ID", f"lead_id={doc['lead_id']!r}")
        if lead_pk in prepared["delivered"]:
            raise Invalid("ALREADY_IN_QUEUE", "the lead already has a delivery")
        crm_pk = self._need("crms", doc, "crm_id")
        status = as_text(doc.get("status")).lower() or "pending"
        if status in QUEUE_PENDING:
            state, new_lead_status = Delivery.State.PENDING, S.QUEUED
        elif status in QUEUE_EXHAUSTED:
            state, new_lead_status = Delivery.State.EXHAUSTED, S.FAILED
        else:
            raise Invalid("QUEUE_ITEM_DONE", f"status={status!r}: nothing left to send")
        next_at = doc_date(doc, "next_retry_at")
        if state == Delivery.State.PENDING:
            next_at = next_at or self.now
        routed_at = doc_date(doc, "created_at") or self.now
        obj = Delivery(
            **fit_to_columns(
                Delivery,
                {
                    "lead_id": lead_pk,
                    # The legacy queue knew the target CRM only: the decision
                    # is recorded as account routing, without an order or price.
                    "crm_id": self._pk(crm_pk),
                    "origin_crm_id": origin_crm_pk,
                    "source": Delivery.Source.ACCOUNT_ROUTING,
                    "reason": "legacy queue item",
                    "order": None,
                    "unit_price": None,
                    "routed_at": routed_at,
                    "state": state,
                    "attempts": min(as_int(doc.get("retry_count")) or 0, 32000),
                    "next_attempt_at": next_at,
                    "last_error": as_text(doc.get("last_error")),
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
