"""Driving an import: collections in order, chunks, one transaction per chunk."""

import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, models, transaction
from django.utils import timezone

from enersolar.models import CodeSequence, Department, ProductType
from tracking.models import Form, LandingPage

from ..models import ImportBatch, LegacyRecord
from ..reader import RawDoc, iter_documents
from . import copy
from .lookups import ChunkLookups, among
from .mappers import CollectionMappers
from .schema import COLLECTIONS, DOCUMENTED_FIELDS, MODELS
from .statistics import Statistics
from .values import (
    LISTED_KEPT,
    Invalid,
    Item,
    Stats,
    as_text,
    fit_to_columns,
    in_chunks,
)

RECORD_FIELDS = [
    "collection",
    "legacy_id",
    "content_type",
    "object_id",
    "created",
    "batch",
    "extra",
    "previous",
    "imported_at",
]
RECORD_ATTNAMES = [LegacyRecord._meta.get_field(name).attname for name in RECORD_FIELDS]


class Importer(CollectionMappers, ChunkLookups):
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
        self._planned_slugs: set[str] = set()
        # Audit only: (phone, product) → [(unix time, pk, delivered)] of the
        # leads it would create, for the de-duplication by identity.
        self._audit_identities: dict[tuple, list] = {}
        # Mini-analyses of this run by (e-mail, brand).
        self._mini_identities: dict[tuple, object] = {}
        self._crm_slugs: dict[str, str] | None = None
        self._crm_urls: dict[str, str] | None = None
        self._cut: dict[str, str] = {}
        self._content_types = {
            name: ContentType.objects.get_for_model(model) for name, model in MODELS.items()
        }
        self._products = {p.code: p for p in ProductType.objects.all()}
        self._departments = set(Department.objects.values_list("code", flat=True))
        self._statistics = Statistics()

    # --- driving --------------------------------------------------------------

    def run(self, files: dict[str, Path], collections: Iterable[str] | None = None) -> dict:
        wanted = set(collections or COLLECTIONS)
        with copy.commits_without_flush(enabled=not self.audit):
            for name in COLLECTIONS:
                if name in wanted and name in files:
                    self.results[name] = self._collection(name, files[name])
        return self.results

    def _collection(self, name: str, path: Path) -> dict:
        stats = Stats()
        started = time.monotonic()
        next_report = self.progress_every
        handler = getattr(self, f"_map_{name}")
        for chunk in in_chunks(iter_documents(path), self.chunk_size):
            created, recorded = stats.created, stats.created + stats.matched + stats.duplicates
            self._chunk(name, chunk, stats, handler)
            if not self.audit:
                self._statistics.written(MODELS[name], stats.created - created)
                self._statistics.written(
                    LegacyRecord, stats.created + stats.matched + stats.duplicates - recorded
                )
            if stats.total >= next_report:
                next_report += self.progress_every
                rate = stats.total / max(time.monotonic() - started, 1e-6)
                self.progress(f"{name}: {self._summary(stats)} ({rate:,.0f} rows/s)")
        if not self.audit and name in ("lps", "forms"):
            self._advance_sequences(name)
        elapsed = time.monotonic() - started
        result = stats.as_dict(self.audit)
        result["seconds"] = round(elapsed, 2)
        self.progress(f"{name}: done, {self._summary(stats)} in {elapsed:.1f} s")
        return result

    def _summary(self, stats: Stats) -> str:
        """A progress line; an audit writes nothing, so it never says "created"."""
        if self.audit:
            done = (
                f"{stats.created} to create, {stats.matched} to link, "
                f"{stats.duplicates} to link as duplicates"
            )
        else:
            done = (
                f"{stats.created} created, {stats.matched} matched, "
                f"{stats.duplicates} linked as duplicates"
            )
        return (
            f"{stats.total} read, {done}, {stats.already} already imported, {stats.invalid} invalid"
        )

    def _fit(self, model, values: dict) -> dict:
        return fit_to_columns(model, values, self._cut)

    def _chunk(self, name: str, chunk: list[RawDoc], stats: Stats, handler) -> None:
        items, part = self._map_chunk(name, chunk, handler)
        stats.merge(part)
        if self.audit:
            planned = self._planned.setdefault(name, set())
            for item in items:
                planned.add(item.legacy_id)
                if name == "lps" and item.extra.get("form_id"):
                    self._audit_lp_forms.add(item.extra["form_id"])
                if item.duplicate_of is not None:
                    stats.duplicates += 1
                elif item.matched is not None:
                    stats.matched += 1
                else:
                    stats.created += 1
            return
        self._write(name, items, stats)

    def _map_chunk(self, name: str, chunk: list[RawDoc], handler) -> tuple[list[Item], Stats]:
        """Read, check and map one chunk; its counts in a Stats of its own."""
        stats = Stats()
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
            return [], stats
        already: set[str] = set()
        repeated: set[str] = set()
        batch_id = self.batch.pk if self.batch else None
        for legacy_id, record_batch, imported_at in LegacyRecord.objects.filter(
            among("legacy_id", [d[1] for d in docs]), collection=name
        ).values_list("legacy_id", "batch_id", "imported_at"):
            # Written by this very run (an earlier chunk): the id is repeated
            # in the dump, reported as an audit reports it.
            mine = record_batch == batch_id and imported_at == self.now
            (repeated if mine else already).add(legacy_id)
        for line, legacy_id, _doc in docs:
            if legacy_id in repeated:
                stats.reject(line, legacy_id, "DUPLICATE_IN_DUMP")
        stats.already += len(already)
        docs = [d for d in docs if d[1] not in already and d[1] not in repeated]
        items: list[Item] = []
        prepared = self._prepare(name, docs)
        for line, legacy_id, doc in docs:
            self._cut = {}
            try:
                item = handler(line, legacy_id, doc, prepared)
            except Invalid as exc:
                stats.reject(line, legacy_id, exc.code, exc.detail)
                continue
            if item.duplicate_of is None:
                item.extra = {
                    k: v for k, v in doc.items() if k not in DOCUMENTED_FIELDS[name] and k != "_id"
                } | item.extra
            if "_id" in doc and legacy_id != str(doc["_id"]):
                item.extra["_id"] = str(doc["_id"])
            for code, detail in item.notes:
                stats.note(line, legacy_id, code, detail)
            if self._cut and item.duplicate_of is None:
                # Cut to fit its column: kept whole here, and said.
                item.extra["cut_fields"] = dict(self._cut)
                for field_name, value in self._cut.items():
                    stats.note(
                        line, legacy_id, "TEXT_CUT", f"{field_name}: {len(value)} characters"
                    )
            if item.listed and len(stats.listed) < LISTED_KEPT:
                stats.listed.append(item.listed)
            items.append(item)
        return items, stats

    def _write(self, name: str, items: list[Item], stats: Stats) -> None:
        try:
            with transaction.atomic():
                created, matched, duplicates = self._save(name, items)
        except DatabaseError:
            # Find the row(s) the database refuses; the others still land.
            created = matched = duplicates = 0
            for item in items:
                meta = getattr(item.obj, "_meta", None)
                if meta is not None and isinstance(meta.pk, models.AutoField):
                    item.obj.pk, item.obj._state.adding = None, True
                try:
                    with transaction.atomic():
                        c, m, d = self._save(name, [item])
                except DatabaseError as exc:
                    stats.reject(item.line, item.legacy_id, "DB_ERROR", str(exc)[:300])
                    continue
                created, matched, duplicates = created + c, matched + m, duplicates + d
        stats.created += created
        stats.matched += matched
        stats.duplicates += duplicates

    def _save(self, name: str, items: list[Item]) -> tuple[int, int, int]:
        model = MODELS[name]
        new = [item for item in items if item.matched is None]
        big = name in ("visitor_sessions", "tracking", "leads", "lead_queue")
        if big and copy.is_available():
            # The big collections: one COPY per chunk (PostgreSQL)…
            copy.copy_insert(model, [item.obj for item in new])
        elif big:
            # …or one INSERT.
            model.objects.bulk_create(
                [
                    item.obj.instance() if isinstance(item.obj, copy.Row) else item.obj
                    for item in new
                ]
            )
        else:
            for item in new:
                item.obj.save()
        for item in items:
            if item.after_save:
                item.after_save(item.obj if item.matched is None else item.matched)
        rows = self._record_rows(name, items)
        if copy.is_available():
            copy.copy_rows(LegacyRecord, RECORD_FIELDS, rows)
        else:
            LegacyRecord.objects.bulk_create(
                [LegacyRecord(**dict(zip(RECORD_ATTNAMES, row, strict=True))) for row in rows]
            )
        refs = self._refs.get(name)
        if refs is not None:
            for item in items:
                refs[item.legacy_id] = str((item.matched or item.obj).pk)
        duplicates = sum(1 for item in items if item.duplicate_of is not None)
        return len(new), len(items) - len(new) - duplicates, duplicates

    def _record_rows(self, name: str, items: list[Item]) -> Iterable[list]:
        """The LegacyRecord of each item, as values of RECORD_FIELDS."""
        content_type = self._content_types[name].pk
        return (
            [
                name,
                item.legacy_id,
                content_type,
                str((item.matched or item.obj).pk),
                item.matched is None,
                self.batch.pk,
                item.extra,
                item.previous,
                self.now,
            ]
            for item in items
        )

    # --- references -------------------------------------------------------------

    def _legacy_id(self, name: str, doc: dict) -> str:
        value = doc.get("id") or doc.get("_id")
        if not value and name == "lead_queue":
            value = doc.get("lead_id")  # one queue item per lead
        return as_text(value)

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
        key = as_text(legacy_id)
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
        code = as_text(doc.get(key)).upper()
        if code not in self._products:
            raise Invalid("UNKNOWN_PRODUCT", f"{key}={doc.get(key)!r}")
        return self._products[code]

    def _forms_by_code(self) -> dict[str, Form]:
        if not hasattr(self, "_form_cache"):
            self._form_cache = {
                f.code: f
                for f in Form.objects.select_related("landing_page", "account", "product_type")
            }
            self._form_by_legacy = {
                f.legacy_id: f for f in self._form_cache.values() if f.legacy_id
            }
            self._lp_cache = {lp.code: lp for lp in LandingPage.objects.all()}
            self._lp_by_pk = {lp.pk: lp for lp in self._lp_cache.values()}
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
