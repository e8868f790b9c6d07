"""import_legacy: audit, import, idempotency, rollback, on a factory-made dump."""

import io
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.models import Statement, StatementLine
from enersolar.models import CRM, Account, AccountRouting, ActivityLog, CodeSequence
from enersolar.tests.factories import CRMFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory
from legacy.models import ImportBatch, LegacyRecord
from legacy.reader import iter_documents
from routing.models import Delivery, Order
from tracking.models import Form, LandingPage, TrackingEvent, VisitorSession
from tracking.tests.factories import FormFactory, LandingPageFactory

from .dump import BASE_TIME, LeadDocMaker, _write_array, run, run_json, write_dump

pytestmark = pytest.mark.django_db


@pytest.fixture
def dump(tmp_path):
    return write_dump(tmp_path / "dump", leads=30)


def test_audit_counts_everything_and_writes_nothing(dump):
    result = run_json(dump.directory, "--audit")

    assert result["leads"] == {
        "total": 31,
        "already_imported": 0,
        "invalid": 1,
        "reasons": {"BROKEN_JSON": 1},
        "examples": [result["leads"]["examples"][0]],
        "notes": {},
        "note_examples": [],
        "to_create": 30,
        "to_link": 0,
        "to_link_as_duplicate": 0,
        "to_import": 30,
        "seconds": result["leads"]["seconds"],
    }
    assert "created" not in result["leads"]  # an audit writes nothing
    assert result["leads"]["examples"][0]["line"] == dump.broken_lines["leads"]
    assert result["commandes"]["reasons"] == {"UNKNOWN_PRODUCT": 1}
    assert result["tracking"]["reasons"] == {"BROKEN_JSON": 1, "DUPLICATE_EVENT": 1}
    assert result["lead_queue"]["reasons"] == {"UNKNOWN_LEAD_ID": 1}
    assert result["forms"]["to_import"] == 3  # the one without lp_id found through its LP
    for model in (CRM, Account, LandingPage, Form, Order, VisitorSession, Lead, Delivery):
        assert not model.objects.exists(), model
    assert not LegacyRecord.objects.exists()
    assert not ImportBatch.objects.exists()


def test_audit_after_an_import_counts_what_is_already_there(dump):
    run(dump.directory, "--batch", "first")
    result = run_json(dump.directory, "--audit")
    assert result["leads"]["already_imported"] == 30
    assert result["leads"]["to_import"] == 0


def test_import_creates_every_collection_tagged_with_its_batch(dump):
    out, err = run(dump.directory, "--batch", "march")

    batch = ImportBatch.objects.get(name="march")
    assert batch.finished_at is not None
    assert CRM.objects.count() == 2
    assert Account.objects.count() == 2
    assert LandingPage.objects.count() == 3
    assert Form.objects.count() == 3
    assert Order.objects.count() == 2
    assert VisitorSession.objects.count() == 30
    assert TrackingEvent.objects.count() == 90
    assert Lead.objects.count() == 30
    assert Delivery.objects.count() == len(dump.queue) - 1
    assert batch.counts["leads"]["created"] == 30
    assert LegacyRecord.objects.filter(batch=batch).count() == 2 + 2 + 3 + 3 + 2 + 30 + 90 + 30 + 8
    assert "leads: done, 31 read, 30 created" in err  # progress on stderr
    assert "invalid 1" in out
    assert ActivityLog.objects.filter(action=ActivityLog.Action.IMPORT).count() == 1


def test_legacy_ids_unknown_fields_and_relations_are_kept(dump):
    run(dump.directory)

    doc = dump.leads[0]
    record = LegacyRecord.objects.get(collection="leads", legacy_id=doc["id"])
    assert record.object_id == doc["id"]  # a legacy UUID stays the lead's id
    # What the legacy lead said of its delivery is kept with it.
    assert record.extra["target_crm"] == doc["target_crm"]
    assert record.extra["sent_at"] == doc["sent_at"]
    assert record.extra["_id"] == doc["_id"]["$oid"]
    lead = Lead.objects.get(pk=doc["id"])
    assert lead.session_id == uuid.UUID(doc["session_id"])
    assert lead.form.code == doc["form_code"]
    assert lead.account.name == dump.accounts[0]["name"]
    assert lead.source == Lead.Source.IMPORT

    account = Account.objects.get(name=dump.accounts[0]["name"])
    assert account.origin_crm.slug == "zr7"
    assert account.legal_notice == dump.accounts[0]["mentions_legales"]
    routing = {
        r.product_type.code: (r.crm.slug, r.api_key)
        for r in AccountRouting.objects.filter(account=account)
    }
    assert routing == {"PV": ("zr7", "zr7-key-pv"), "PAC": ("zr7", "zr7-key-pac")}
    extra = LegacyRecord.objects.get(collection="accounts", legacy_id=dump.accounts[0]["id"]).extra
    assert extra["theme_color"] == dump.accounts[0]["theme_color"]

    order = Order.objects.get(crm__slug="zr7")
    assert order.unit_price == Decimal("25.50")
    assert order.cap_daily == 200
    assert sorted(order.departments.values_list("code", flat=True)) == ["75", "92", "93", "94"]
    ite = Form.objects.get(code="ITE-012")
    assert ite.landing_page.code == "LP-103"  # linked through the LP's form_id
    event = TrackingEvent.objects.filter(event_type="form_step").first()
    # Every field of a legacy event is mapped: only the ObjectId is left over.
    extra = LegacyRecord.objects.get(collection="tracking", object_id=str(event.pk)).extra
    assert set(extra) == {"_id"}
    assert event.landing_page.code == event.lp_code and event.form.code == event.form_code


def test_imported_landing_pages_serve_the_form_their_legacy_form_id_names(dump):
    run(dump.directory)

    served = dict(LandingPage.objects.values_list("code", "form__code"))
    assert served == {"LP-101": "PV-201", "LP-102": "PAC-007", "LP-103": "ITE-012"}


def test_only_web_urls_become_landing_page_links_the_others_are_kept_aside(dump):
    bad = {"LP-101": "javascript:alert(document.cookie)", "LP-102": "ftp://files.example.com/"}
    for lp in dump.lps:
        lp["url"] = bad.get(lp["code"], "https://www.example.com/solaire")
    _write_array(dump.directory / "lps.json", dump.lps)

    run(dump.directory)

    urls = dict(LandingPage.objects.values_list("code", "url"))
    assert urls == {"LP-101": "", "LP-102": "", "LP-103": "https://www.example.com/solaire"}
    kept = {
        r.extra.get("url")
        for r in LegacyRecord.objects.filter(collection="lps")
        if r.extra.get("url")
    }
    assert kept == set(bad.values())


def test_leads_keep_their_dates_and_statuses(dump):
    run(dump.directory)

    by_id = {str(lead.pk): lead for lead in Lead.objects.all()}
    for doc in dump.leads:
        lead = by_id[doc["id"]]
        assert lead.created_at == datetime.fromisoformat(doc["created_at"])
        assert lead.register_date == doc["register_date"]
    statuses = {doc["id"]: doc["api_status"] for doc in dump.leads}
    for lead_id, legacy_status in statuses.items():
        lead = by_id[lead_id]
        expected = {
            "success": "success",
            "duplicate": "duplicate",
            "failed": "failed",
            "invalid_phone": "invalid_phone",
            "queued": "queued",  # its queue item came back
        }[legacy_status]
        assert lead.status == expected, (legacy_status, lead.reasons)
    delivered = next(by_id[i] for i, s in statuses.items() if s == "success")
    assert delivered.reasons == [f"LEGACY_CRM:{dump.leads[0]['target_crm']}"]
    refused = next(by_id[i] for i, s in statuses.items() if s == "invalid_phone")
    assert refused.reasons == ["PHONE_INVALID"]  # the legacy distribution_reason


def test_phones_are_normalised_and_raw_kept(dump):
    run(dump.directory)

    lead = Lead.objects.get(pk=dump.leads[0]["id"])
    assert lead.phone_raw == dump.leads[0]["phone"]
    assert len(lead.phone) == 10 and lead.phone.startswith("0")
    fake = Lead.objects.get(pk=dump.leads[1]["id"])
    assert (fake.phone, fake.phone_raw) == ("", "0611111111")


def test_queue_items_come_back_into_our_retry_queue(dump):
    run(dump.directory)

    for item in dump.queue[:-1]:
        delivery = Delivery.objects.select_related("crm", "origin_crm", "lead").get(
            pk=item["lead_id"]
        )
        assert delivery.state == Delivery.State.PENDING
        assert delivery.attempts == 2
        assert delivery.last_error == "HTTP 503"
        assert delivery.next_attempt_at == datetime.fromisoformat(item["next_retry_at"])
        # The CRM from the item's api_url; the route as the legacy lead had it.
        assert delivery.crm.api_url == item["api_url"]
        expected_source = (
            Delivery.Source.FORM_OVERRIDE
            if delivery.lead.form.code == "PAC-007"
            else Delivery.Source.ACCOUNT_ROUTING
        )
        assert delivery.source == expected_source and delivery.order is None
        assert delivery.origin_crm == delivery.lead.account.origin_crm
        assert delivery.lead.status == Lead.Status.QUEUED


def test_no_imported_lead_is_handed_to_delivery(dump, monkeypatch):
    sent = []
    monkeypatch.setattr("routing.tasks.dispatch_leads", lambda ids, claim=None: sent.append(ids))
    run(dump.directory)
    assert sent == []
    # And none is left `pending` for the sweep to pick up.
    assert not Lead.objects.filter(status=Lead.Status.PENDING).exists()


def test_codes_are_kept_and_sequences_moved_past_them(dump):
    run(dump.directory)

    assert set(LandingPage.objects.values_list("code", flat=True)) == {"LP-101", "LP-102", "LP-103"}
    assert set(Form.objects.values_list("code", flat=True)) == {"PV-201", "PAC-007", "ITE-012"}
    assert CodeSequence.objects.get(name="LP").last_value == 103
    new_lp = LandingPageFactory(account=Account.objects.first())
    assert new_lp.code == "LP-104"
    assert FormFactory(landing_page=new_lp, account=new_lp.account).code == "PV-202"


def test_a_rerun_creates_nothing_twice(dump):
    run(dump.directory, "--batch", "one")
    counts = {m: m.objects.count() for m in (CRM, LandingPage, Form, Order, Lead, TrackingEvent)}

    result = run_json(dump.directory, "--batch", "two")

    assert {m: m.objects.count() for m in counts} == counts
    assert result["leads"]["created"] == 0
    assert result["leads"]["already_imported"] == 30
    assert not LegacyRecord.objects.filter(batch__name="two").exists()


def test_a_broken_line_is_reported_and_the_import_goes_on(dump):
    out, _ = run(dump.directory)

    assert f"line {dump.broken_lines['leads']} -: BROKEN_JSON" in out
    # Every lead after the broken line is there too.
    assert Lead.objects.filter(pk=dump.leads[-1]["id"]).exists()
    assert Lead.objects.count() == 30


def test_existing_rows_are_matched_not_duplicated(dump):
    ours = CRMFactory(slug="zr7", name="ZR7 (already configured)")

    run(dump.directory, "--batch", "b")

    assert CRM.objects.filter(slug="zr7").count() == 1
    record = LegacyRecord.objects.get(collection="crms", legacy_id=dump.crms[0]["id"])
    assert (record.object_id, record.created) == (str(ours.pk), False)
    call_command("import_legacy", "--rollback", "b", stdout=io.StringIO())
    assert CRM.objects.filter(pk=ours.pk).exists()  # matched, not owned: kept


def test_rollback_removes_exactly_one_batch(dump):
    config = "crms,accounts,lps,forms,commandes"
    run(dump.directory, "--collections", config, "--batch", "config")
    run(
        dump.directory,
        "--collections",
        "visitor_sessions,tracking,leads,lead_queue",
        "--batch",
        "t",
    )
    ours = LeadFactory()  # made here, after the import

    out, _ = run("--rollback", "t")

    assert "leads: 30 removed" in out
    assert list(Lead.objects.all()) == [ours]
    assert not VisitorSession.objects.exclude(pk=ours.session_id).exists()
    assert not TrackingEvent.objects.exists()
    assert not Delivery.objects.exists()
    assert not ImportBatch.objects.filter(name="t").exists()
    # The other batch is untouched.
    assert Form.objects.filter(code__in=["PV-201", "PAC-007", "ITE-012"]).count() == 3
    assert Order.objects.count() == 2
    assert LegacyRecord.objects.filter(batch__name="config").count() == 12
    # And it can be imported again.
    run(dump.directory, "--collections", "visitor_sessions,tracking,leads,lead_queue")
    assert Lead.objects.count() == 31


def test_rollback_refuses_when_billing_holds_an_imported_lead(dump):
    run(dump.directory, "--batch", "billed")
    lead = Lead.objects.get(pk=dump.leads[0]["id"])
    zr7, mdl = CRM.objects.get(slug="zr7"), CRM.objects.get(slug="mdl")
    statement = Statement.objects.create(
        number="RC-1", period=datetime(2024, 3, 1).date(), creditor=zr7, debtor=mdl, total=25
    )
    StatementLine.objects.create(
        statement=statement,
        kind="charge",
        lead=lead,
        delivered_at=lead.created_at,
        product="PV",
        departement="75",
        amount=Decimal("25"),
    )

    with pytest.raises(CommandError, match="1 billing.StatementLine"):
        run("--rollback", "billed")

    assert Lead.objects.count() == 30
    assert CRM.objects.count() == 2
    assert ImportBatch.objects.filter(name="billed").exists()


def test_rollback_of_an_unknown_batch_is_a_clear_error():
    with pytest.raises(CommandError, match="no import batch named 'nope'"):
        run("--rollback", "nope")


def test_a_single_collection_file_can_be_imported(dump):
    result = run_json(dump.directory / "crms.json")
    assert list(result) == ["crms"]
    assert CRM.objects.count() == 2


def test_a_path_without_dump_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "missing")


def test_extended_json_is_decoded_in_lines_and_arrays(tmp_path):
    docs = [
        {
            "_id": {"$oid": "65f0c0ffee0000000000abcd"},
            "when": {"$date": {"$numberLong": "1709280000000"}},
            "iso": {"$date": "2024-03-01T08:00:00Z"},
            "n": {"$numberLong": "12"},
            "nested": [{"d": {"$numberDecimal": "1.50"}}],
        }
    ]
    lines = tmp_path / "a.jsonl"
    lines.write_text(json.dumps(docs[0]) + "\n")
    array = tmp_path / "b.json"
    array.write_text("  \n" + json.dumps(docs))
    for path in (lines, array):
        (raw,) = list(iter_documents(path))
        assert raw.doc["_id"] == "65f0c0ffee0000000000abcd"
        assert raw.doc["when"] == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
        assert raw.doc["iso"] == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
        assert raw.doc["n"] == 12
        assert raw.doc["nested"][0]["d"] == Decimal("1.50")


def test_a_broken_json_array_is_reported(tmp_path):
    path = tmp_path / "crms.json"
    path.write_text('[{"id": "a", "slug": "a"}, {"id": "b", "sl')
    docs = list(iter_documents(path))
    assert docs[0].doc["id"] == "a"
    assert docs[-1].doc is None and docs[-1].error.startswith("BROKEN_JSON")


def test_held_new_and_unknown_statuses_are_not_left_for_our_machinery(dump, tmp_path):
    run(dump.directory, "--collections", "crms,accounts,lps,forms")
    maker = LeadDocMaker(3)
    docs = [
        maker.make(form=dump.forms[0], session_id=None, created_at=BASE_TIME, status=status)
        for status in ("pending_no_order", "new", "archived?", "orphan")
    ]
    path = tmp_path / "leads.json"
    path.write_text("\n".join(json.dumps(d) for d in docs))

    run(path)

    leads = [Lead.objects.get(pk=d["id"]) for d in docs]
    assert [(lead.status, lead.reasons) for lead in leads] == [
        ("failed", ["LEGACY_UNSENT:pending_no_order"]),
        ("failed", ["LEGACY_UNSENT:new"]),
        ("failed", ["LEGACY_STATUS:archived?"]),
        ("orphan", ["FORM_NOT_FOUND"]),
    ]
