"""Legacy migration: audit, import and rollback of a `mongoexport` dump."""

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from enersolar.models import ActivityLog
from enersolar.services import journal_record
from leads.models import Lead
from tracking.models import Form

from .importer import COLLECTIONS, MODELS, Importer
from .importer.schema import NOT_IMPORTED, UUID_KEYED
from .models import ImportBatch, LegacyRecord
from .reader import collection_files

ROLLBACK_CHUNK = 2000


class ImportError_(Exception):
    """A dump that cannot be read at all (no such path, no collection file)."""


class RollbackRefused(Exception):
    """Rows of the batch are still needed by rows outside it."""


@dataclass
class ImportOutcome:
    batch: ImportBatch | None  # None for an audit
    results: dict[str, dict]
    ignored_files: list[str]
    # Collections of the legacy database we do not import, with the reason.
    not_imported: dict[str, str] = field(default_factory=dict)


def legacy_import(
    *,
    source: Path,
    collections: Iterable[str] | None = None,
    audit: bool = False,
    batch_name: str | None = None,
    user=None,
    progress: Callable[[str], None] | None = None,
    chunk_size: int = 2000,
) -> ImportOutcome:
    """Audit (nothing written) or import a dump. Importing under an existing
    batch name resumes that batch: what it already holds is skipped."""
    source = Path(source)
    if not source.exists():
        raise ImportError_(f"{source}: no such file or directory")
    files = collection_files(source)
    wanted = list(collections or COLLECTIONS)
    unknown = [c for c in wanted if c not in COLLECTIONS]
    if unknown:
        raise ImportError_(f"unknown collection(s): {', '.join(unknown)}")
    if not any(c in files for c in wanted):
        raise ImportError_(f"{source}: no file for {', '.join(wanted)}")
    ignored = sorted(name for name in files if name not in COLLECTIONS and name not in NOT_IMPORTED)
    not_imported = {name: NOT_IMPORTED[name] for name in sorted(files) if name in NOT_IMPORTED}

    if audit:
        importer = Importer(batch=None, audit=True, chunk_size=chunk_size, progress=progress)
        return ImportOutcome(None, importer.run(files, wanted), ignored, not_imported)

    name = batch_name or f"legacy-{timezone.now():%Y%m%d-%H%M%S}"
    batch, _ = ImportBatch.objects.get_or_create(
        name=name, defaults={"source": str(source)[:500], "user": _user(user)}
    )
    importer = Importer(batch=batch, chunk_size=chunk_size, progress=progress)
    results = importer.run(files, wanted)
    batch.counts = {**batch.counts, **results}
    batch.finished_at = timezone.now()
    batch.save(update_fields=["counts", "finished_at"])
    journal_record(
        user=user,
        action=ActivityLog.Action.IMPORT,
        obj=batch,
        details={
            "source": str(source),
            "counts": {
                c: {
                    k: r[k]
                    for k in (
                        "total",
                        "created",
                        "matched",
                        "duplicates_linked",
                        "already_imported",
                        "invalid",
                    )
                }
                for c, r in results.items()
            },
        },
    )
    return ImportOutcome(batch, results, ignored, not_imported)


def _user(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _chunks(iterator, size):
    iterator = iter(iterator)
    while chunk := list(islice(iterator, size)):
        yield chunk


@transaction.atomic
def batch_rollback(*, name: str, user=None) -> dict[str, int]:
    """Remove exactly what one batch created, in reverse dependency order, in
    one transaction; rows it only matched stay. Refuses, changing nothing,
    when a row of the batch is protected by a row outside it (a statement
    line, a return, a budget entry, a form made since on an imported LP…)."""
    batch = ImportBatch.objects.select_for_update().filter(name=name).first()
    if batch is None:
        raise RollbackRefused(f"no import batch named {name!r}")
    deleted: dict[str, int] = {}
    for collection in reversed(COLLECTIONS):
        model = MODELS[collection]
        records = LegacyRecord.objects.filter(batch=batch, collection=collection)
        if collection == "lead_queue":
            _restore_lead_statuses(records)
        if collection == "forms":
            _restore_form_legacy_ids(records)
        to_pk = uuid.UUID if collection in UUID_KEYED else int
        ids = records.filter(created=True).values_list("object_id", flat=True)
        count = 0
        for chunk in _chunks(ids.iterator(chunk_size=ROLLBACK_CHUNK), ROLLBACK_CHUNK):
            try:
                _, per_model = model.objects.filter(pk__in=[to_pk(i) for i in chunk]).delete()
            except (ProtectedError, RestrictedError) as exc:
                blocking = getattr(exc, "protected_objects", None) or exc.restricted_objects
                blockers = Counter(o._meta.label for o in blocking)
                raise RollbackRefused(
                    f"batch {name!r} cannot be rolled back: {collection} rows are still "
                    "referenced by "
                    + ", ".join(f"{n} {label}" for label, n in blockers.items())
                    + ". Nothing was removed."
                ) from exc
            count += per_model.get(model._meta.label, 0)
        deleted[collection] = count
    deleted["records"] = LegacyRecord.objects.filter(batch=batch).delete()[0]
    journal_record(
        user=user,
        action=ActivityLog.Action.IMPORT,
        obj=batch,
        details={"action": "rollback", "deleted": deleted},
    )
    batch.delete()
    return deleted


def _restore_form_legacy_ids(records) -> None:
    """Forms we already had, matched by code, got the legacy id: take it back."""
    ids = records.filter(created=False, previous__has_key="legacy_id").values_list(
        "object_id", flat=True
    )
    Form.objects.filter(pk__in=[int(i) for i in ids]).update(legacy_id=None)


def _restore_lead_statuses(records) -> None:
    """Queue items changed their lead's status (to queued/failed): put back
    the status the lead had before, for leads that stay."""
    rows = records.exclude(previous={}).values_list("object_id", "previous")
    for chunk in _chunks(rows.iterator(chunk_size=ROLLBACK_CHUNK), ROLLBACK_CHUNK):
        by_status: dict[str, list] = {}
        for object_id, previous in chunk:
            if previous.get("lead_status"):
                by_status.setdefault(previous["lead_status"], []).append(uuid.UUID(object_id))
        for status, ids in by_status.items():
            Lead.objects.filter(pk__in=ids).update(status=status)
