"""Import of the legacy MongoDB collections (SPEC §10); see legacy/README.md
for the documented fields of each collection and what they become.

One pass per collection, in dependency order, in chunks: each chunk is read,
checked against the mapping table (one query: which legacy ids are already
imported), mapped, and written in one transaction with its LegacyRecord rows.
The unique (collection, legacy_id) constraint is the backstop if two imports
ever race. A chunk the database refuses is retried row by row, so one bad row
is reported and the others still land.
"""

import ipaddress
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from enersolar.france import department_from_postal_code, department_normalize
from enersolar.models import CRM, Account, AccountRouting, CodeSequence, Department, ProductType
from enersolar.phone import phone_normalize
from leads.models import Lead
from routing.models import Delivery, Order
from tracking.models import Form, LandingPage, TrackingEvent, VisitorSession

from .models import ImportBatch, LegacyRecord
from .reader import RawDoc, iter_documents, parse_datetime

# Dependency order: a collection only refers to those before it.
COLLECTIONS = (
    "crms",
    "accounts",
    "lps",
    "forms",
    "commandes",
    "visitor_sessions",
    "tracking",
    "leads",
    "lead_queue",
)
MODELS: dict[str, type[models.Model]] = {
    "crms": CRM,
    "accounts": Account,
    "lps": LandingPage,
    "forms": Form,
    "commandes": Order,
    "visitor_sessions": VisitorSession,
    "tracking": TrackingEvent,
    "leads": Lead,
    "lead_queue": Delivery,
}
# Legacy ids that are not UUIDs (Mongo ObjectIds) get a stable UUID of ours.
ID_NAMESPACE = uuid.UUID("6f1c1a52-3c1e-4d8e-9a57-2f0e7b1d5a10")
EXAMPLES_KEPT = 20

UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "gclid", "fbclid")
LEAD_TEXT_FIELDS = (
    "civilite",
    "nom",
    "prenom",
    "code_postal",
    "ville",
    "adresse",
    "type_logement",
    "statut_occupant",
    "surface_habitable",
    "annee_construction",
    "type_chauffage",
    "facture_electricite",
    "facture_chauffage",
    "type_projet",
    "delai_projet",
    "budget",
    "lp_code",
    "liaison_code",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "quality_tier",
)

# The legacy fields we map, per collection; every other field goes to `extra`.
DOCUMENTED_FIELDS: dict[str, set[str]] = {
    "crms": {"id", "name", "slug", "api_url", "active", "is_active", "only_ordered_leads"},
    "accounts": {
        "id",
        "name",
        "crm_id",
        "logo_url",
        "secondary_logo_url",
        "gtm_head",
        "gtm_body",
        "gtm_conversion",
        "mentions_legales",
        "privacy_text",
        "redirect_url",
        "routing",
    },
    "lps": {"id", "code", "name", "account_id", "url", "form_id", "source", "status"},
    "forms": {
        "id",
        "code",
        "name",
        "product_type",
        "account_id",
        "lp_id",
        "crm_id",
        "api_key",
        "allow_cross_crm",
        "redirect_url",
        "status",
    },
    "commandes": {
        "id",
        "crm_id",
        "name",
        "product_type",
        "departements",
        "prix_unitaire",
        "active",
        "date_debut",
        "date_fin",
        "limite_jour",
        "limite_semaine",
        "limite_mois",
        "priorite",
        "api_key",
    },
    "visitor_sessions": {
        "id",
        "visitor_id",
        "lp_code",
        "form_code",
        "liaison_code",
        "referrer",
        "user_agent",
        "ip",
        "status",
        "created_at",
        *UTM,
    },
    "tracking": {
        "id",
        "session_id",
        "event_type",
        "lp_code",
        "form_code",
        "liaison_code",
        "referrer",
        "user_agent",
        "ip",
        "data",
        "created_at",
        *UTM,
    },
    "leads": {
        "id",
        "session_id",
        "form_code",
        "form_id",
        "account_id",
        "product_type",
        "phone",
        "email",
        "departement",
        "ip",
        "status",
        "reasons",
        "created_at",
        "register_date",
        "rgpd_consent",
        "newsletter",
        *LEAD_TEXT_FIELDS,
    },
    "lead_queue": {
        "id",
        "lead_id",
        "crm_id",
        "retry_count",
        "next_retry_at",
        "last_error",
        "status",
        "created_at",
    },
}

S = Lead.Status
# Legacy lead statuses → ours. Our own names are kept as they are, except
# those our machinery would pick up and send (pending, queued, held): an imported
# lead is never delivered by the import. Those become `failed` (staff can
# "Relancer" them) unless their lead_queue item brings them back as `queued`.
UNSENT_STATUSES = {
    "new",
    "nouveau",
    "pending",
    "queued",
    "processing",
    "retry",
    "en_attente",
    # Held leads are re-routed when an order is activated: not legacy ones.
    "pending_no_order",
}
LEAD_STATUS_ALIASES = {
    "sent": S.SUCCESS,
    "delivered": S.SUCCESS,
    "envoye": S.SUCCESS,
    "ok": S.SUCCESS,
    "doublon": S.DUPLICATE,
    "error": S.FAILED,
    "erreur": S.FAILED,
    "invalid": S.MISSING_REQUIRED,
    "rejected": S.FAILED,
}
QUEUE_PENDING = {"pending", "queued", "processing", "retry", "waiting"}
QUEUE_EXHAUSTED = {"failed", "exhausted", "dead"}


class Invalid(Exception):
    """A document we cannot import; `code` is counted, `detail` shown."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(code)
        self.code = code
        self.detail = detail


@dataclass
class Item:
    """A mapped document: a new row to create, or an existing row it matched."""

    line: int
    legacy_id: str
    obj: models.Model | None = None
    matched: models.Model | None = None
    extra: dict = field(default_factory=dict)
    previous: dict = field(default_factory=dict)
    after_save: Callable[[models.Model], None] | None = None


@dataclass
class Stats:
    total: int = 0
    already: int = 0
    created: int = 0
    matched: int = 0
    invalid: int = 0
    reasons: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)

    def reject(self, line: int, legacy_id: str, code: str, detail: str = "") -> None:
        self.invalid += 1
        self.reasons[code] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append({"line": line, "id": legacy_id, "reason": detail or code})

    def as_dict(self, audit: bool) -> dict:
        data = {
            "total": self.total,
            "already_imported": self.already,
            "invalid": self.invalid,
            "reasons": dict(self.reasons),
            "examples": self.examples,
        }
        if audit:
            data["to_import"] = self.created + self.matched
        else:
            data["created"] = self.created
            data["matched"] = self.matched
        return data


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


def legacy_uuid(collection: str, value) -> uuid.UUID:
    """The legacy UUID itself, or a stable UUID derived from an ObjectId."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return uuid.uuid5(ID_NAMESPACE, f"{collection}:{value}")


def _text(value) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _bool(value, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "oui", "on")
    return bool(value)


def _int(value) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _ip(value) -> str | None:
    try:
        return str(ipaddress.ip_address(_text(value))) if value else None
    except ValueError:
        return None


def _date(doc: dict, key: str, required: bool = False) -> datetime | None:
    try:
        value = parse_datetime(doc.get(key))
    except (ValueError, TypeError, OverflowError) as exc:
        raise Invalid("BAD_DATE", f"{key}: {doc.get(key)!r}") from exc
    if value is None and required:
        raise Invalid("MISSING_FIELD", f"{key} missing")
    return value


def _objectid_time(value) -> datetime | None:
    """A Mongo ObjectId starts with its creation time (4 bytes, seconds)."""
    text = _text(value)
    if re.fullmatch(r"[0-9a-fA-F]{24}", text):
        return datetime.fromtimestamp(int(text[:8], 16), tz=UTC)
    return None


_MAX_LENGTHS: dict[type, dict[str, int]] = {}


def _fit(model: type[models.Model], values: dict) -> dict:
    """Cut strings to their column's length: PostgreSQL refuses longer ones."""
    limits = _MAX_LENGTHS.get(model)
    if limits is None:
        limits = _MAX_LENGTHS[model] = {
            f.attname: f.max_length
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField) and f.max_length
        }
    for name, limit in limits.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            values[name] = value[:limit]
    return values


class Importer:
    """Audit (`audit=True`: read and check, write nothing) or import."""

    def __init__(
        self,
        *,
        batch: ImportBatch | None,
        audit: bool = False,
        chunk_size: int = 2000,
        progress: Callable[[str], None] | None = None,
        progress_every: int = 50_000,
    ):
        self.batch = batch
        self.audit = audit
        self.chunk_size = chunk_size
        self.progress = progress or (lambda message: None)
        self.progress_every = progress_every
        self.now = timezone.now()
        self.results: dict[str, dict] = {}
        # legacy id → our pk, for the small collections (loaded once a run).
        self._refs: dict[str, dict[str, str]] = {}
        # Audit only: ids the import would create, so later collections can
        # refer to them. Sessions and leads are held as 16-byte UUIDs.
        self._planned: dict[str, set] = {}
        self._audit_lp_forms: set[str] = set()
        self._content_types = {
            name: ContentType.objects.get_for_model(model) for name, model in MODELS.items()
        }
        self._products = {p.code: p for p in ProductType.objects.all()}
        self._departments = set(Department.objects.values_list("code", flat=True))

    # --- driving --------------------------------------------------------------

    def run(self, files: dict[str, Path], collections: Iterable[str] | None = None) -> dict:
        wanted = set(collections or COLLECTIONS)
        for name in COLLECTIONS:
            if name in wanted and name in files:
                self.results[name] = self._collection(name, files[name])
        return self.results

    def _collection(self, name: str, path: Path) -> dict:
        stats = Stats()
        started = time.monotonic()
        next_report = self.progress_every
        handler = getattr(self, f"_map_{name}")
        for chunk in _chunks(iter_documents(path), self.chunk_size):
            self._chunk(name, chunk, stats, handler)
            if stats.total >= next_report:
                next_report += self.progress_every
                rate = stats.total / max(time.monotonic() - started, 1e-6)
                self.progress(
                    f"{name}: {stats.total} read, {stats.created} created, "
                    f"{stats.already} already, {stats.invalid} invalid ({rate:,.0f} rows/s)"
                )
        if not self.audit and name in ("lps", "forms"):
            self._advance_sequences(name)
        elapsed = time.monotonic() - started
        result = stats.as_dict(self.audit)
        result["seconds"] = round(elapsed, 2)
        self.progress(
            f"{name}: done, {stats.total} read, {stats.created} created, {stats.matched} matched, "
            f"{stats.already} already imported, {stats.invalid} invalid in {elapsed:.1f} s"
        )
        return result

    def _chunk(self, name: str, chunk: list[RawDoc], stats: Stats, handler) -> None:
        docs: list[tuple[int, str, dict]] = []
        seen: set[str] = set()
        for raw in chunk:
            stats.total += 1
            if raw.doc is None:
                stats.reject(raw.line, "", raw.error.split(":")[0], raw.error)
                continue
            legacy_id = self._legacy_id(name, raw.doc)
            if not legacy_id:
                stats.reject(raw.line, "", "MISSING_ID")
                continue
            if legacy_id in seen or (self.audit and legacy_id in self._planned.get(name, ())):
                stats.reject(raw.line, legacy_id, "DUPLICATE_IN_DUMP")
                continue
            seen.add(legacy_id)
            docs.append((raw.line, legacy_id, raw.doc))
        if not docs:
            return
        already = set(
            LegacyRecord.objects.filter(
                collection=name, legacy_id__in=[d[1] for d in docs]
            ).values_list("legacy_id", flat=True)
        )
        stats.already += len(already)
        docs = [d for d in docs if d[1] not in already]
        items: list[Item] = []
        prepared = self._prepare(name, docs)
        for line, legacy_id, doc in docs:
            try:
                item = handler(line, legacy_id, doc, prepared)
            except Invalid as exc:
                stats.reject(line, legacy_id, exc.code, exc.detail)
                continue
            item.extra = {
                k: v for k, v in doc.items() if k not in DOCUMENTED_FIELDS[name] and k != "_id"
            } | item.extra
            if "_id" in doc and legacy_id != str(doc["_id"]):
                item.extra["_id"] = str(doc["_id"])
            items.append(item)
        if self.audit:
            planned = self._planned.setdefault(name, set())
            for item in items:
                planned.add(item.legacy_id)
                if name == "lps" and item.extra.get("form_id"):
                    self._audit_lp_forms.add(item.extra["form_id"])
                if item.matched is not None:
                    stats.matched += 1
                else:
                    stats.created += 1
            return
        self._write(name, items, stats)

    def _write(self, name: str, items: list[Item], stats: Stats) -> None:
        try:
            with transaction.atomic():
                created, matched = self._save(name, items)
        except DatabaseError:
            # Find the row(s) the database refuses; the others still land.
            created = matched = 0
            for item in items:
                if item.obj is not None and isinstance(item.obj._meta.pk, models.AutoField):
                    item.obj.pk, item.obj._state.adding = None, True
                try:
                    with transaction.atomic():
                        c, m = self._save(name, [item])
                except DatabaseError as exc:
                    stats.reject(item.line, item.legacy_id, "DB_ERROR", str(exc)[:300])
                    continue
                created, matched = created + c, matched + m
        stats.created += created
        stats.matched += matched

    def _save(self, name: str, items: list[Item]) -> tuple[int, int]:
        model = MODELS[name]
        new = [item for item in items if item.matched is None]
        if name in ("visitor_sessions", "tracking", "leads", "lead_queue"):
            # The big collections: one INSERT per chunk.
            model.objects.bulk_create([item.obj for item in new])
        else:
            for item in new:
                item.obj.save()
        for item in new:
            if item.after_save:
                item.after_save(item.obj)
        content_type = self._content_types[name]
        LegacyRecord.objects.bulk_create(
            [
                LegacyRecord(
                    collection=name,
                    legacy_id=item.legacy_id,
                    content_type=content_type,
                    object_id=str((item.matched or item.obj).pk),
                    created=item.matched is None,
                    batch=self.batch,
                    extra=item.extra,
                    previous=item.previous,
                    imported_at=self.now,
                )
                for item in items
            ]
        )
        refs = self._refs.get(name)
        if refs is not None:
            for item in items:
                refs[item.legacy_id] = str((item.matched or item.obj).pk)
        return len(new), len(items) - len(new)

    # --- references -------------------------------------------------------------

    def _legacy_id(self, name: str, doc: dict) -> str:
        value = doc.get("id") or doc.get("_id")
        if not value and name == "lead_queue":
            value = doc.get("lead_id")  # one queue item per lead
        return _text(value)

    def _ref(self, collection: str, legacy_id) -> str | None:
        """Our pk for a legacy id of a small collection (or, in an audit, the
        marker "planned" when this run would create it)."""
        if legacy_id in (None, ""):
            return None
        refs = self._refs.get(collection)
        if refs is None:
            refs = self._refs[collection] = dict(
                LegacyRecord.objects.filter(collection=collection).values_list(
                    "legacy_id", "object_id"
                )
            )
        key = _text(legacy_id)
        if key in refs:
            return refs[key]
        if self.audit and key in self._planned.get(collection, ()):
            return "planned"
        return None

    def _need(self, collection: str, doc: dict, key: str) -> str:
        pk = self._ref(collection, doc.get(key))
        if pk is None:
            code = "MISSING_FIELD" if not doc.get(key) else f"UNKNOWN_{key.upper()}"
            raise Invalid(code, f"{key}={doc.get(key)!r}")
        return pk

    @staticmethod
    def _pk(value: str | None) -> int | None:
        return int(value) if value and value != "planned" else None

    def _product(self, doc: dict, key: str = "product_type") -> ProductType:
        code = _text(doc.get(key)).upper()
        if code not in self._products:
            raise Invalid("UNKNOWN_PRODUCT", f"{key}={doc.get(key)!r}")
        return self._products[code]

    def _prepare(self, name: str, docs: list[tuple[int, str, dict]]) -> dict:
        """Per-chunk lookups of the big collections: one query each."""
        if name == "visitor_sessions":
            ids = [legacy_uuid(name, d[1]) for d in docs]
            return {"existing": set(VisitorSession.objects.filter(pk__in=ids).values_list("pk"))}
        if name == "tracking":
            ids = {legacy_uuid("visitor_sessions", d[2].get("session_id")) for d in docs}
            found = set(VisitorSession.objects.filter(pk__in=ids).values_list("pk", flat=True))
            once = set(
                TrackingEvent.objects.filter(
                    session_id__in=found, event_type__in=TrackingEvent.ONCE_PER_SESSION
                ).values_list("session_id", "event_type")
            )
            return {"sessions": found, "once": once}
        if name == "leads":
            ids = [legacy_uuid(name, d[1]) for d in docs]
            sessions = {
                legacy_uuid("visitor_sessions", d[2]["session_id"])
                for d in docs
                if d[2].get("session_id")
            }
            return {
                "existing": set(Lead.objects.filter(pk__in=ids).values_list("pk", flat=True)),
                "sessions": set(
                    VisitorSession.objects.filter(pk__in=sessions).values_list("pk", flat=True)
                ),
                "forms": self._forms_by_code(),
            }
        if name == "lead_queue":
            ids = {legacy_uuid("leads", d[2].get("lead_id")) for d in docs if d[2].get("lead_id")}
            return {
                "leads": {
                    pk: (status, origin)
                    for pk, status, origin in Lead.objects.filter(pk__in=ids).values_list(
                        "pk", "status", "account__origin_crm_id"
                    )
                },
                "delivered": set(Delivery.objects.filter(pk__in=ids).values_list("pk", flat=True)),
            }
        return {}

    def _forms_by_code(self) -> dict[str, Form]:
        if not hasattr(self, "_form_cache"):
            self._form_cache = {
                f.code: f for f in Form.objects.select_related("landing_page", "account")
            }
            self._lp_cache = {lp.code: lp for lp in LandingPage.objects.all()}
            self._form_by_pk = {f.pk: f for f in self._form_cache.values()}
        return self._form_cache

    def _advance_sequences(self, name: str) -> None:
        """Imported codes keep their numbers: move the counters past them so a
        code made here later never collides with one made by the legacy system."""
        model, pattern = (
            (LandingPage, r"^(LP)-(\d+)$") if name == "lps" else (Form, r"^([A-Z]+)-(\d+)$")
        )
        highest: dict[str, int] = {}
        for code in model.objects.values_list("code", flat=True).iterator():
            match = re.match(pattern, code)
            if match:
                prefix, number = match.group(1), int(match.group(2))
                highest[prefix] = max(highest.get(prefix, 0), number)
        for prefix, number in highest.items():
            sequence = "LP" if name == "lps" else f"FORM-{prefix}"
            CodeSequence.objects.get_or_create(name=sequence)
            CodeSequence.objects.filter(name=sequence, last_value__lt=number).update(
                last_value=number
            )

    # --- the collections ----------------------------------------------------------

    def _map_crms(self, line, legacy_id, doc, prepared) -> Item:
        name = _text(doc.get("name"))
        slug = slugify(_text(doc.get("slug")) or name)[:50]
        if not slug:
            raise Invalid("MISSING_FIELD", "name/slug missing")
        existing = CRM.objects.filter(slug=slug).first()
        if existing:
            return Item(line, legacy_id, matched=existing)
        obj = CRM(
            **_fit(
                CRM,
                {
                    "name": name or slug,
                    "slug": slug,
                    "api_url": _text(doc.get("api_url")),
                    "is_active": _bool(doc.get("active", doc.get("is_active")), True),
                    "only_ordered_leads": _bool(doc.get("only_ordered_leads"), True),
                },
            )
        )
        return Item(line, legacy_id, obj=obj)

    def _map_accounts(self, line, legacy_id, doc, prepared) -> Item:
        name = _text(doc.get("name"))
        if not name:
            raise Invalid("MISSING_FIELD", "name missing")
        crm_pk = self._need("crms", doc, "crm_id")
        existing = Account.objects.filter(name=name).first()
        if existing:
            return Item(line, legacy_id, matched=existing)
        routings = []
        for product_code, entry in (doc.get("routing") or {}).items():
            product = self._products.get(_text(product_code).upper())
            target = self._ref("crms", (entry or {}).get("crm_id"))
            if product is None or target is None:
                raise Invalid("BAD_ROUTING", f"routing {product_code}: {entry!r}")
            routings.append((product, target, _text(entry.get("api_key"))))

        def save_routings(account: Account) -> None:
            AccountRouting.objects.bulk_create(
                [
                    AccountRouting(account=account, product_type=p, crm_id=int(c), api_key=key)
                    for p, c, key in routings
                ]
            )

        values = {f: _text(doc.get(f)) for f in ("logo_url", "secondary_logo_url", "redirect_url")}
        values |= {f: _text(doc.get(f)) for f in ("gtm_head", "gtm_body", "gtm_conversion")}
        obj = Account(
            **_fit(
                Account,
                {
                    "name": name,
                    "origin_crm_id": self._pk(crm_pk),
                    "legal_notice": _text(doc.get("mentions_legales")),
                    "privacy_text": _text(doc.get("privacy_text")),
                    **values,
                },
            )
        )
        return Item(line, legacy_id, obj=obj, after_save=save_routings if routings else None)

    def _map_lps(self, line, legacy_id, doc, prepared) -> Item:
        code = _text(doc.get("code")).upper()
        if code:
            existing = LandingPage.objects.filter(code=code).first()
            if existing:
                return Item(line, legacy_id, matched=existing)
        account_pk = self._need("accounts", doc, "account_id")
        status = _text(doc.get("status")).lower()
        obj = LandingPage(
            **_fit(
                LandingPage,
                {
                    # No code: drawn from the sequence by save(), as in the admin.
                    "code": code,
                    "name": _text(doc.get("name")) or code or legacy_id,
                    "account_id": self._pk(account_pk),
                    "url": _text(doc.get("url")),
                    "traffic_source": _text(doc.get("source")),
                    "status": "archived" if status in ("archived", "inactive") else "active",
                },
            )
        )
        # The LP → form link is ours the other way round (Form.landing_page);
        # keep it for forms without lp_id.
        extra = {"form_id": _text(doc["form_id"])} if doc.get("form_id") else {}
        return Item(line, legacy_id, obj=obj, extra=extra)

    def _map_forms(self, line, legacy_id, doc, prepared) -> Item:
        code = _text(doc.get("code")).upper()
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
        status = _text(doc.get("status")).lower()
        obj = Form(
            **_fit(
                Form,
                {
                    "code": code,
                    "name": _text(doc.get("name")) or code or legacy_id,
                    "product_type": product,
                    "account_id": self._pk(account_pk),
                    "landing_page_id": self._pk(lp_pk),
                    "crm_override_id": self._pk(crm_pk),
                    "crm_override_api_key": _text(doc.get("api_key")),
                    "allow_cross_crm": _bool(doc.get("allow_cross_crm"), False),
                    "redirect_url": _text(doc.get("redirect_url")),
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
            code = department_normalize(_text(value))
            if code is None or code not in self._departments:
                raise Invalid("UNKNOWN_DEPARTMENT", f"departements: {value!r}")
            departments.append(code)
        starts, ends = _date(doc, "date_debut"), _date(doc, "date_fin")
        starts_on = timezone.localdate(starts) if starts else None
        ends_on = timezone.localdate(ends) if ends else None
        if starts_on and ends_on and ends_on < starts_on:
            raise Invalid("BAD_DATES", "date_fin before date_debut")
        obj = Order(
            **_fit(
                Order,
                {
                    "crm_id": self._pk(crm_pk),
                    "name": _text(doc.get("name")),
                    "product_type": product,
                    "unit_price": price.quantize(Decimal("0.01")),
                    "is_active": _bool(doc.get("active"), True),
                    "starts_on": starts_on,
                    "ends_on": ends_on,
                    "cap_daily": _int(doc.get("limite_jour")),
                    "cap_weekly": _int(doc.get("limite_semaine")),
                    "cap_monthly": _int(doc.get("limite_mois")),
                    "priority": _int(doc.get("priorite")) or 0,
                    "api_key": _text(doc.get("api_key")),
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
        created_at = _date(doc, "created_at") or _objectid_time(doc.get("_id"))
        if created_at is None:
            raise Invalid("MISSING_FIELD", "created_at missing")
        forms = self._forms_by_code()
        lp = self._lp_cache.get(_text(doc.get("lp_code")).upper())
        form = forms.get(_text(doc.get("form_code")).upper())
        status = _text(doc.get("status")).lower()
        obj = VisitorSession(
            **_fit(
                VisitorSession,
                {
                    "id": pk,
                    "visitor_id": _text(doc.get("visitor_id")) or str(pk),
                    "landing_page_id": lp.pk if lp else None,
                    "form_id": form.pk if form else None,
                    "account_id": (lp or form).account_id if (lp or form) else None,
                    "lp_code": _text(doc.get("lp_code")),
                    "form_code": _text(doc.get("form_code")),
                    "liaison_code": _text(doc.get("liaison_code")),
                    "referrer": _text(doc.get("referrer")),
                    "user_agent": _text(doc.get("user_agent")),
                    "ip": _ip(doc.get("ip")),
                    "status": "converted" if status == "converted" else "active",
                    "created_at": created_at,
                    **{f: _text(doc.get(f)) for f in UTM},
                },
            )
        )
        return Item(line, legacy_id, obj=obj)

    def _map_tracking(self, line, legacy_id, doc, prepared) -> Item:
        if not doc.get("session_id"):
            raise Invalid("MISSING_FIELD", "session_id missing")
        session_pk = legacy_uuid("visitor_sessions", doc["session_id"])
        if session_pk not in prepared["sessions"] and not (
            self.audit and _text(doc["session_id"]) in self._planned.get("visitor_sessions", ())
        ):
            raise Invalid("UNKNOWN_SESSION_ID", f"session_id={doc['session_id']!r}")
        event_type = _text(doc.get("event_type"))
        if not event_type:
            raise Invalid("MISSING_FIELD", "event_type missing")
        if event_type in TrackingEvent.ONCE_PER_SESSION:
            key = (session_pk, event_type)
            if key in prepared["once"]:
                raise Invalid("DUPLICATE_EVENT", f"{event_type} already recorded for the session")
            prepared["once"].add(key)
        created_at = _date(doc, "created_at") or _objectid_time(doc.get("_id"))
        if created_at is None:
            raise Invalid("MISSING_FIELD", "created_at missing")
        forms = self._forms_by_code()
        lp = self._lp_cache.get(_text(doc.get("lp_code")).upper())
        form = forms.get(_text(doc.get("form_code")).upper())
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        obj = TrackingEvent(
            **_fit(
                TrackingEvent,
                {
                    "session_id": session_pk,
                    "event_type": event_type,
                    "landing_page_id": lp.pk if lp else None,
                    "form_id": form.pk if form else None,
                    "account_id": (lp or form).account_id if (lp or form) else None,
                    "lp_code": _text(doc.get("lp_code")),
                    "form_code": _text(doc.get("form_code")),
                    "liaison_code": _text(doc.get("liaison_code")),
                    "referrer": _text(doc.get("referrer")),
                    "user_agent": _text(doc.get("user_agent")),
                    "ip": _ip(doc.get("ip")),
                    "data": data,
                    "created_at": created_at,
                    **{f: _text(doc.get(f)) for f in UTM},
                },
            )
        )
        return Item(line, legacy_id, obj=obj)

    def _map_leads(self, line, legacy_id, doc, prepared) -> Item:
        pk = legacy_uuid("leads", legacy_id)
        if pk in prepared["existing"]:
            return Item(line, legacy_id, matched=Lead(pk=pk))
        created_at = _date(doc, "created_at") or _objectid_time(doc.get("_id"))
        if created_at is None:
            register = _int(doc.get("register_date"))
            if register is None:
                raise Invalid("MISSING_FIELD", "created_at missing")
            created_at = datetime.fromtimestamp(register, tz=UTC)
        form = prepared["forms"].get(_text(doc.get("form_code")).upper())
        if form is None and doc.get("form_id"):
            form_pk = self._pk(self._ref("forms", doc.get("form_id")))
            form = self._form_by_pk.get(form_pk)
        account_pk = (
            form.account_id if form else self._pk(self._ref("accounts", doc.get("account_id")))
        )
        product = (
            form.product_type
            if form
            else self._products.get(_text(doc.get("product_type")).upper())
        )
        session_pk = None
        if doc.get("session_id"):
            candidate = legacy_uuid("visitor_sessions", doc["session_id"])
            if candidate in prepared["sessions"]:
                session_pk = candidate
        lp_code = _text(doc.get("lp_code"))
        landing_page = form.landing_page if form else self._lp_cache.get(lp_code.upper())

        raw_phone = _text(doc.get("phone"))
        phone = phone_normalize(raw_phone) or ""
        departement = department_normalize(_text(doc.get("departement"))) or (
            department_from_postal_code(_text(doc.get("code_postal"))) or ""
        )
        raw_status = _text(doc.get("status")).lower()
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
        register_date = _int(doc.get("register_date")) or int(created_at.timestamp())
        values = {f: _text(doc.get(f)) for f in LEAD_TEXT_FIELDS}
        values["lp_code"] = lp_code or (landing_page.code if landing_page else "")
        obj = Lead(
            **_fit(
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
                    "form_code": _text(doc.get("form_code")),
                    "account_id": account_pk,
                    "product_type_id": product.pk if product else None,
                    "landing_page_id": landing_page.pk if landing_page else None,
                    "ip": _ip(doc.get("ip")),
                    "phone": phone,
                    "phone_raw": raw_phone,
                    "email": _text(doc.get("email")).lower(),
                    "departement": departement,
                    "rgpd_consent": _bool(doc.get("rgpd_consent"), True),
                    "newsletter": _bool(doc.get("newsletter"), False),
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
            self.audit and _text(doc["lead_id"]) in self._planned.get("leads", ())
        ):
            raise Invalid("UNKNOWN_LEAD_ID", f"lead_id={doc['lead_id']!r}")
        if lead_pk in prepared["delivered"]:
            raise Invalid("ALREADY_IN_QUEUE", "the lead already has a delivery")
        crm_pk = self._need("crms", doc, "crm_id")
        status = _text(doc.get("status")).lower() or "pending"
        if status in QUEUE_PENDING:
            state, new_lead_status = Delivery.State.PENDING, S.QUEUED
        elif status in QUEUE_EXHAUSTED:
            state, new_lead_status = Delivery.State.EXHAUSTED, S.FAILED
        else:
            raise Invalid("QUEUE_ITEM_DONE", f"status={status!r}: nothing left to send")
        next_at = _date(doc, "next_retry_at")
        if state == Delivery.State.PENDING:
            next_at = next_at or self.now
        routed_at = _date(doc, "created_at") or self.now
        obj = Delivery(
            **_fit(
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
                    "attempts": min(_int(doc.get("retry_count")) or 0, 32000),
                    "next_attempt_at": next_at,
                    "last_error": _text(doc.get("last_error")),
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
