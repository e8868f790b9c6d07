"""Mappers of the configuration collections: CRMs, accounts (and their
`crm_routing`), landing pages, forms (and their CRM override), commandes,
quality mappings."""

from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.text import slugify

from enersolar.france import department_normalize
from enersolar.models import CRM, Account, AccountRouting, QualityMapping
from routing.models import Order
from tracking.models import Form, LandingPage

from ..models import LegacyRecord
from .values import (
    Invalid,
    Item,
    as_bool,
    as_decimal,
    as_int,
    as_text,
    doc_date,
    web_url,
)


class ConfigMappers:
    """Mixed into Importer (through CollectionMappers): uses its reference
    caches (`_ref`, `_need`, `_product`…)."""

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
        url = web_url(raw_url)
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
