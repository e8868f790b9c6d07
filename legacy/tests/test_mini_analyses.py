"""The mini-analyses migration of seed 004, as a built-in collection of
import_legacy: audit (totals, already linked, to migrate, listed), migrate,
validate (a second audit), rollback by batch. The leads stay out of routing
and billing unless staff route them."""

import io
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from leads.models import Lead
from legacy.models import LegacyRecord, MiniAnalysis
from routing.models import Delivery
from routing.services.queue import lead_retry, queue_process
from routing.services.verification import verification_run
from routing.tests.helpers import deliver_now

from .dump import oid

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
STATUSES = ["GENERATED"] * 5 + ["QUOTA_BLOCKED", "ERROR"]


def mini_analyses(count: int = 42, seed: int = 4) -> list[dict]:
    """What the IGV form stored in `mini_analyses` (seed 004's fields)."""
    rng = random.Random(seed)
    docs = []
    for n in range(count):
        created = T0 + timedelta(days=n, minutes=rng.randrange(600))
        status = STATUSES[n % len(STATUSES)]
        docs.append(
            {
                "_id": oid(rng),
                "email": f"Contact{n}@Marque{n}.example.com",
                "phone": f"+3361234{n:04d}",
                "nom_de_marque": f"Marque {n}",
                "secteur": rng.choice(["Restauration / Food", "Mode", "Cosmétique"]),
                "language": rng.choice(["fr", "en", "he"]),
                "status": status,
                "pdf_url": f"https://cdn.example.com/mini/{n}.pdf" if status == "GENERATED" else "",
                "analysis_text": f"Premier aperçu de l'analyse de la marque {n}…",
                "created_at": {"$date": created.isoformat().replace("+00:00", "Z")},
                "updated_at": {"$date": (created + timedelta(minutes=2)).isoformat()},
            }
        )
    return docs


def write(path, docs):
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    return path


def run(*args) -> str:
    out = io.StringIO()
    call_command("import_legacy", *[str(a) for a in args], stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_json(*args) -> dict:
    return json.loads(run(*args, "--json"))["mini_analyses"]


@pytest.fixture
def docs():
    return mini_analyses()


@pytest.fixture
def dump(tmp_path, docs):
    # The same brand and e-mail twice: one lead (the migration's own rule).
    repeat = {**docs[3], "_id": {"$oid": "f" * 24}, "email": docs[3]["email"].upper()}
    return write(tmp_path / "mini_analyses.json", [*docs, repeat])


def test_the_audit_lists_what_it_would_migrate_and_writes_nothing(dump, docs):
    out = run(dump, "--audit")

    assert "mini_analyses: total 43, already linked 1, to migrate 42, invalid 0" in out
    assert f"[TO MIGRATE] Marque 0 | {docs[0]['email'].lower()}" in out
    assert "[LINKED] Marque 3" in out
    assert not Lead.objects.exists()


def test_migrate_makes_one_lead_per_record_with_everything_kept(dump, docs, monkeypatch):
    sent = []
    monkeypatch.setattr("routing.tasks.dispatch_leads", lambda ids, claim=None: sent.append(ids))

    out = run(dump, "--batch", "mini-2025")

    assert "mini_analyses: total 43, already linked 1, migrated 42" in out
    assert f"[MIGRATED] Marque 41 | {docs[41]['email'].lower()}" in out
    assert MiniAnalysis.objects.count() == Lead.objects.count() == 42
    doc = docs[0]
    record = LegacyRecord.objects.get(collection="mini_analyses", legacy_id=doc["_id"]["$oid"])
    lead = Lead.objects.select_related("mini_analysis").get(pk=record.object_id)
    analysis = lead.mini_analysis
    assert (lead.email, lead.phone, lead.phone_raw) == (
        doc["email"].lower(),
        "0612340000",
        doc["phone"],
    )
    assert (
        lead.created_at
        == analysis.original_created_at
        == datetime.fromisoformat(doc["created_at"]["$date"].replace("Z", "+00:00"))
    )
    assert lead.source == Lead.Source.IMPORT and analysis.source == "mini-analysis-migration"
    assert lead.status == Lead.Status.NO_CRM
    assert lead.reasons == ["MINI_ANALYSIS_MIGRATION", "MINI_ANALYSIS:GENERATED"]
    assert (analysis.brand_name, analysis.sector, analysis.language) == (
        "Marque 0",
        doc["secteur"],
        doc["language"],
    )
    assert analysis.status == MiniAnalysis.Status.GENERATED
    assert analysis.pdf_url == doc["pdf_url"]
    assert analysis.analysis_text == doc["analysis_text"]
    assert analysis.mini_analysis_id == doc["_id"]["$oid"]
    assert analysis.batch.name == "mini-2025"
    assert analysis.notes.startswith("Migrated from mini-analysis collection on ")
    assert analysis.original_updated_at == analysis.original_created_at + timedelta(minutes=2)
    statuses = MiniAnalysis.objects.values_list("status", flat=True)
    assert set(statuses) == {"GENERATED", "QUOTA_BLOCKED", "ERROR"}
    assert sent == []  # never handed to delivery


def test_they_stay_out_of_routing_and_billing_unless_staff_route_them(
    dump, celery_eager, django_capture_on_commit_callbacks
):
    run(dump)

    queue_process(dispatch=deliver_now)
    verification_run(triggered_by="manual", now=T0 + timedelta(days=41, hours=12))

    assert not Delivery.objects.exists()
    assert set(Lead.objects.values_list("status", flat=True)) == {Lead.Status.NO_CRM}
    # "Relancer" is the one way in: the lead is routed (here: no CRM to take it).
    lead = Lead.objects.first()
    with django_capture_on_commit_callbacks(execute=True):
        assert lead_retry(lead=lead) is True
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NO_CRM and not Delivery.objects.exists()


def test_validate_then_rollback_by_batch(dump):
    run(dump, "--batch", "mini-a")

    again = run_json(dump, "--audit")
    assert (again["total"], again["already_imported"], again["to_create"]) == (43, 43, 0)

    out = run("--rollback", "mini-a")

    assert "mini_analyses: 42 removed" in out
    assert not Lead.objects.exists() and not MiniAnalysis.objects.exists()
    assert not LegacyRecord.objects.exists()


def test_a_record_matching_an_earlier_migration_is_linked_not_created(tmp_path, docs):
    (tmp_path / "first").mkdir()
    run(write(tmp_path / "first" / "mini_analyses.json", docs[:5]))
    later = [{**d, "_id": {"$oid": f"{n:024x}"}} for n, d in enumerate(docs[:5])]

    result = run_json(write(tmp_path / "mini_analyses.json", later + docs[5:]))

    assert (result["created"], result["matched"]) == (37, 5)
    assert Lead.objects.count() == 42


def test_the_generated_filter_lists_them_and_the_lead_page_shows_the_analysis(
    admin_client, dump, docs
):
    run(dump)
    generated = set(
        MiniAnalysis.objects.filter(status="GENERATED").values_list("lead_id", flat=True)
    )

    page = admin_client.get("/admin/leads/lead/?mini_analysis=GENERATED").content.decode()

    shown = {str(pk) for pk in generated if f"/admin/leads/lead/{pk}/change/" in page}
    assert len(shown) == len(generated) == 30
    other = MiniAnalysis.objects.exclude(status="GENERATED").first().lead_id
    assert f"/admin/leads/lead/{other}/change/" not in page
    # The filter keeps the legacy values in its links and says them in words.
    assert "?mini_analysis=QUOTA_BLOCKED" in page
    assert "bloquée par le quota" in page and ">QUOTA_BLOCKED<" not in page

    lead = MiniAnalysis.objects.get(brand_name="Marque 0").lead
    detail = admin_client.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert docs[0]["pdf_url"] in detail
    assert "Premier aperçu de l&#x27;analyse de la marque 0" in detail
    assert "mini-analysis-migration" in detail
