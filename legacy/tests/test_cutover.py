"""The cut-over from the legacy system (issue 16), on a dump written in the
legacy code's own shapes (seed 002: `submit_lead`, the lead sender, the
queue), never in the importer's: delivered leads stay delivered and are never
sent again; routing and form overrides are used by the next lead; the legacy
tracking script's calls, with a form's legacy id, reach the imported form;
one person under two ids becomes one lead; values as people wrote them."""

import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from enersolar.tests.helpers import public_client
from leads.models import Lead
from legacy.models import LegacyRecord
from routing.models import Delivery, Order
from routing.services.batch import lead_deliver
from routing.services.queue import lead_retry, queue_process
from routing.services.verification import verification_run
from routing.tests.factories import OrderFactory
from routing.tests.helpers import deliver_now
from tracking.models import Form, TrackingEvent, VisitorSession

from .dump import BASE_TIME, LeadDocMaker, _write_array, _write_lines, run, run_json, write_dump

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager(celery_eager):
    pass


@pytest.fixture
def dump(tmp_path):
    return write_dump(tmp_path / "dump", leads=30)


def rewrite_leads(dump, docs) -> None:
    _write_lines(dump.directory / "leads.json", docs)


# --- 1. Delivered leads stay delivered ----------------------------------------------


def test_delivered_leads_import_as_delivered_and_are_never_sent_again(dump, buyer):
    for crm in dump.crms:
        crm["api_url"] = buyer.url(crm["slug"])
    # The buyer has it, whatever api_status says afterwards.
    dump.leads[2] |= {"api_status": "failed", "sent_to_crm": True}
    _write_array(dump.directory / "crms.json", dump.crms)
    rewrite_leads(dump, dump.leads)
    run(dump.directory)

    delivered_docs = [d for d in dump.leads if d["sent_to_crm"]]
    delivered = Lead.objects.filter(pk__in=[d["id"] for d in delivered_docs])
    assert delivered.count() == len(delivered_docs) > 5
    for lead in delivered:
        doc = next(d for d in delivered_docs if d["id"] == str(lead.pk))
        expected = "duplicate" if doc["api_status"] == "duplicate" else "success"
        assert lead.status == expected
        assert f"LEGACY_CRM:{doc['target_crm']}" in lead.reasons
        assert not Delivery.objects.filter(pk=lead.pk).exists()
    assert "LEGACY_STATUS:failed" in Lead.objects.get(pk=dump.leads[2]["id"]).reasons

    # "Relancer" refuses them; the queue and the nightly verification leave them.
    assert not any(lead_retry(lead=lead) for lead in delivered)
    with timezone.override("UTC"):
        queue_process(dispatch=deliver_now)
        newest = max(datetime.fromisoformat(d["created_at"]) for d in delivered_docs)
        verification_run(triggered_by="manual", now=newest + timedelta(hours=1))
        queue_process(dispatch=deliver_now)
    delivered_ids = {d["id"] for d in delivered_docs}
    sent = {r.idempotency_key for r in buyer.requests}
    assert sent  # the queued leads were sent...
    assert not sent & delivered_ids  # ...never a delivered one
    assert all(
        lead.status in ("success", "duplicate")
        for lead in Lead.objects.filter(pk__in=delivered_ids)
    )


def test_a_queue_item_left_over_for_a_delivered_lead_is_refused(dump):
    lead = next(d for d in dump.leads if d["api_status"] == "success")
    dump.queue.append(
        {**dump.queue[0], "id": lead["id"], "lead_id": lead["id"], "_id": {"$oid": "a" * 24}}
    )
    _write_lines(dump.directory / "lead_queue.json", dump.queue)

    result = run_json(dump.directory)

    assert result["lead_queue"]["reasons"]["LEAD_DELIVERED"] == 1
    assert Lead.objects.get(pk=lead["id"]).status == Lead.Status.SUCCESS
    assert not Delivery.objects.filter(pk=lead["id"]).exists()


def test_queued_leads_come_back_to_the_crm_of_their_api_url(dump, buyer):
    for crm in dump.crms:
        crm["api_url"] = buyer.url(crm["slug"])
    _write_array(dump.directory / "crms.json", dump.crms)
    for item in dump.queue:
        slug = "mdl" if "mdl" in item["api_url"] else "zr7"
        item["api_url"] = buyer.url(slug)
        item["next_retry_at"] = (BASE_TIME - timedelta(days=1)).isoformat()
    _write_lines(dump.directory / "lead_queue.json", dump.queue)
    run(dump.directory)

    queued = Delivery.objects.select_related("crm", "lead__form")
    assert queued.count() == len(dump.queue) - 1
    queue_process(dispatch=deliver_now)

    # Each sent once, to its CRM, with the key of the imported routing.
    keys = {r.json["phone"]: (r.slug, r.headers["Authorization"]) for r in buyer.requests}
    for delivery in queued:
        expected_key = (
            "mdl-key-form-pac"
            if delivery.lead.form.code == "PAC-007"
            else {"PV": "zr7-key-pv", "ITE": "mdl-key-ite"}[delivery.lead.form.product_type.code]
        )
        assert keys[delivery.lead.phone] == (delivery.crm.slug, expected_key)
    assert len(buyer.requests) == queued.count()


# --- 1 and 2. Routing and overrides, the legacy tracking script replayed -------------


def legacy_script_calls(client, *, lp_code: str, form_id: str, phone: str) -> dict:
    """What the legacy brief's scripts post (seed 002's public routes), with
    the form's *id* as form_code, as legacy landing pages do."""
    session = client.post(
        "/api/public/track/session",
        {"lp_code": lp_code, "form_code": form_id, "utm_source": "facebook"},
        format="json",
    ).json()
    assert session["success"] is True, session
    beacon = json.dumps({"session_id": session["session_id"], "lp_code": lp_code})
    assert client.generic(
        "POST", "/api/public/track/lp-visit", beacon, content_type="text/plain"
    ).json()["success"]
    assert client.post(
        "/api/public/track/event",
        {"session_id": session["session_id"], "event_type": "form_start"},
        format="json",
    ).json()["success"]
    lead = client.post(
        "/api/public/leads",
        {
            "session_id": session["session_id"],
            "form_code": form_id,
            "phone": phone,
            "nom": "Martin",
            "prenom": "Luc",
            "departement": "75",
            "rgpd_consent": True,
        },
        format="json",
    ).json()
    assert lead["success"] is True, lead
    return {"session": session, "lead": lead}


@pytest.mark.parametrize(
    ("form_code", "slug", "key"),
    [("PV-201", "zr7", "zr7-key-pv"), ("PAC-007", "mdl", "mdl-key-form-pac")],
)
def test_legacy_landing_pages_reach_the_imported_form_and_its_route(
    dump, buyer, form_code, slug, key
):
    """Account routing (crm_routing) for PV-201, the form's own override
    (target_crm + crm_api_key) for PAC-007: both used by the next lead."""
    for crm in dump.crms:
        crm["api_url"] = buyer.url(crm["slug"])
    _write_array(dump.directory / "crms.json", dump.crms)
    run(dump.directory)
    form = Form.objects.select_related("landing_page", "crm_override").get(code=form_code)
    legacy = next(f for f in dump.forms if f["code"] == form_code)
    assert form.legacy_id == legacy["id"]
    OrderFactory(crm=form.account.routings.first().crm, product_type=form.product_type)
    OrderFactory(crm=form.crm_override or form.account.origin_crm, product_type=form.product_type)

    calls = legacy_script_calls(
        public_client(), lp_code=form.landing_page.code, form_id=legacy["id"], phone="0645127788"
    )

    session = VisitorSession.objects.get(pk=calls["session"]["session_id"])
    assert session.form == form
    assert TrackingEvent.objects.filter(session=session, form=form).count() == 2
    lead = Lead.objects.get(pk=calls["lead"]["lead_id"])
    assert (lead.form, lead.status) == (form, Lead.Status.PENDING)
    assert lead_deliver(lead_id=lead.pk) == "success"
    (request,) = buyer.requests
    assert (request.slug, request.headers["Authorization"]) == (slug, key)
    assert Delivery.objects.get(pk=lead.pk).source == (
        "form_override" if form_code == "PAC-007" else "account_routing"
    )


def test_an_incomplete_routing_entry_is_dropped_and_said(dump):
    audit = run_json(dump.directory, "--audit")
    assert audit["accounts"]["notes"] == {"ROUTING_WITHOUT_KEY": 1}

    run(dump.directory)

    account = LegacyRecord.objects.get(collection="accounts", legacy_id=dump.accounts[1]["id"])
    assert account.extra["crm_routing"]["PV"] == {"target_crm": "mdl", "api_key": ""}
    assert not Form.objects.filter(code="PV-201", crm_override__isnull=False).exists()


def test_a_matched_form_gets_the_legacy_id_and_a_rollback_takes_it_back(dump):
    from tracking.tests.factories import FormFactory

    ours = FormFactory(code="PV-201")
    run(dump.directory, "--batch", "b")
    ours.refresh_from_db()
    assert ours.legacy_id == dump.forms[0]["id"]

    run("--rollback", "b")
    ours.refresh_from_db()
    assert ours.legacy_id is None


# --- 3. One person under two ids ------------------------------------------------------------


def person_twice(
    dump, *, first: str, second: str, gap=timedelta(days=2), seed: int = 99
) -> tuple[dict, dict]:
    maker = LeadDocMaker(seed)
    one = maker.make(form=dump.forms[0], session_id=None, created_at=BASE_TIME, status=first) | {
        "phone": "06 45 12 77 88"
    }
    two = maker.make(
        form=dump.forms[0], session_id=None, created_at=BASE_TIME + gap, status=second
    ) | {"phone": "+33645127788", "nom": "Autre orthographe"}
    return one, two


@pytest.mark.parametrize("chunk_size", [1, 2000])
def test_one_person_under_two_ids_becomes_one_lead_and_a_linked_duplicate(dump, chunk_size):
    one, two = person_twice(dump, first="success", second="failed")
    rewrite_leads(dump, [*dump.leads, one, two])

    audit = run_json(dump.directory, "--audit", "--chunk-size", chunk_size)
    assert audit["leads"]["to_create"] == 31
    assert audit["leads"]["to_link_as_duplicate"] == 1

    result = run_json(dump.directory, "--chunk-size", chunk_size)

    assert (result["leads"]["created"], result["leads"]["duplicates_linked"]) == (31, 1)
    assert Lead.objects.filter(phone="0645127788").count() == 1
    record = LegacyRecord.objects.get(collection="leads", legacy_id=two["id"])
    assert (record.object_id, record.created) == (one["id"], False)
    assert record.extra["nom"] == "Autre orthographe"  # the whole document is kept

    again = run_json(dump.directory, "--chunk-size", chunk_size)
    assert again["leads"]["created"] == again["leads"]["duplicates_linked"] == 0
    assert again["leads"]["already_imported"] == 32
    assert Lead.objects.count() == 31


def test_a_delivered_lead_is_never_folded_into_one_the_buyer_does_not_have(dump):
    one, two = person_twice(dump, first="failed", second="success")
    far_one, far_two = person_twice(
        dump, first="success", second="success", gap=timedelta(days=90), seed=98
    )
    far_two["phone"] = far_one["phone"] = "0645127799"
    rewrite_leads(dump, [one, two, far_one, far_two])

    result = run_json(dump.directory)

    assert result["leads"]["created"] == 4  # outside the 30-day window too
    assert result["leads"]["duplicates_linked"] == 0
    assert Lead.objects.get(pk=two["id"]).status == Lead.Status.SUCCESS


def test_a_legacy_lead_matching_one_of_ours_is_linked_to_it(dump):
    run(dump.directory)
    ours = Lead.objects.get(pk=dump.leads[0]["id"])
    copy = dict(dump.leads[0]) | {"id": str(uuid.uuid4()), "_id": {"$oid": "b" * 24}}
    rewrite_leads(dump, [copy])

    result = run_json(dump.directory / "leads.json")

    assert result["leads"]["duplicates_linked"] == 1
    assert LegacyRecord.objects.get(legacy_id=copy["id"]).object_id == str(ours.pk)


# --- 5. Values as people wrote them -------------------------------------------------------


def test_french_decimals_and_dates_are_read(dump):
    dump.commandes[0] |= {"prix_unitaire": "1 234,50 €", "date_debut": "01/12/2023"}
    _write_lines(dump.directory / "commandes.json", dump.commandes)

    run(dump.directory)

    order = Order.objects.get(crm__slug="zr7")
    assert order.unit_price == Decimal("1234.50")
    assert order.starts_on == date(2023, 12, 1)
    assert Order.objects.get(crm__slug="mdl").unit_price == Decimal("40.00")


def test_over_long_text_is_kept_whole_and_the_cut_is_said(dump):
    long_name = "Dupont-" + "x" * 293
    dump.leads[0]["nom"] = long_name
    rewrite_leads(dump, dump.leads)

    audit = run_json(dump.directory, "--audit")
    assert audit["leads"]["notes"] == {"TEXT_CUT": 1}
    assert audit["leads"]["note_examples"][0]["note"] == "nom: 300 characters"
    out, _ = run(dump.directory)

    assert "note TEXT_CUT: 1" in out
    assert Lead.objects.get(pk=dump.leads[0]["id"]).nom == long_name[:100]
    record = LegacyRecord.objects.get(collection="leads", legacy_id=dump.leads[0]["id"])
    assert record.extra["cut_fields"] == {"nom": long_name}


def test_an_audit_never_says_created(dump):
    out, err = run(dump.directory, "--audit")

    assert "created" not in out and "created" not in err
    assert "to create 30" in out
    assert "leads: done, 31 read, 30 to create" in err


@pytest.mark.parametrize("chunk_size", [1, 5, 2000])
def test_a_repeated_id_is_reported_alike_by_the_audit_and_the_import(dump, chunk_size):
    rewrite_leads(dump, [*dump.leads[:10], dump.leads[3]])

    audit = run_json(dump.directory / "leads.json", "--audit", "--chunk-size", chunk_size)
    result = run_json(dump.directory / "leads.json", "--chunk-size", chunk_size)

    for counts in (audit, result):
        assert counts["leads"]["reasons"] == {"DUPLICATE_IN_DUMP": 1}
        assert counts["leads"]["already_imported"] == 0
    assert result["leads"]["created"] == 10


def test_text_lands_exactly_as_written_whatever_its_characters(dump):
    """PostgreSQL takes the big collections through COPY: tabs, newlines,
    backslashes, quotes and accents must come through untouched."""
    awkward = 'Lé\\on\t"d\'Arc"\nII \\N'
    dump.leads[0] |= {"nom": awkward, "ville": "Saint-Étienne\rCedex", "adresse": "a\x00b"}
    dump.leads[0]["unknown_field"] = {"when": {"$date": "2024-03-01T08:00:00Z"}, "t": "a\tb"}
    rewrite_leads(dump, dump.leads)

    run(dump.directory)

    lead = Lead.objects.get(pk=dump.leads[0]["id"])
    assert (lead.nom, lead.ville, lead.adresse) == (awkward, "Saint-Étienne\rCedex", "ab")
    extra = LegacyRecord.objects.get(collection="leads", legacy_id=dump.leads[0]["id"]).extra
    assert extra["unknown_field"] == {"when": "2024-03-01T08:00:00Z", "t": "a\tb"}


# --- A row the database refuses ------------------------------------------------------------


@pytest.mark.postgres  # SQLite takes a 150-character value into a 100-character column
def test_a_row_the_database_refuses_is_reported_and_its_chunk_still_lands(dump):
    """On PostgreSQL the chunk goes through COPY: its error is the database's
    like any, and the chunk is retried row by row."""
    refused = dict(dump.leads[5]) | {"id": "x" * 150}  # longer than a legacy id may be
    rewrite_leads(dump, [*dump.leads[:5], refused, *dump.leads[6:]])

    result = run_json(dump.directory, "--collections", "crms,accounts,lps,forms,leads")["leads"]

    assert result["reasons"] == {"DB_ERROR": 1}
    assert result["created"] == 29
    assert Lead.objects.count() == 29
