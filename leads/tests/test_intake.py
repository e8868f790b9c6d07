"""Public lead submission — POST /api/public/leads (SPEC §3.1, §11)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from enersolar.models import CRM, QualityMapping
from enersolar.process_cache import process_caches_clear
from enersolar.tests.factories import AccountRoutingFactory, CRMFactory, product
from enersolar.tests.helpers import public_client
from leads.models import Lead
from leads.signals import lead_received
from leads.tests.factories import LeadFactory
from tracking.models import VisitorSession
from tracking.tests.factories import FormFactory, VisitorSessionFactory

URL = "/api/public/leads"
PHONE = "0612345678"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def form():
    form = FormFactory()
    AccountRoutingFactory(
        account=form.account,
        product_type=form.product_type,
        # Takes leads without an order (at its default price): the routing
        # decision sends this form's leads to zr7.
        crm=CRMFactory(slug="zr7", name="ZR7", only_ordered_leads=False),
    )
    return form


@pytest.fixture
def session(form):
    return VisitorSessionFactory(
        form=form, utm_source="facebook", utm_medium="cpc", utm_campaign="spring"
    )


@pytest.fixture
def client():
    return public_client()


def lead_body(session, form, **overrides) -> dict:
    body = {
        "session_id": str(session.pk) if session else "no-session",
        "form_code": form.code if form else "PV-999",
        "phone": "06 12 34 56 78",
        "nom": "Dupont",
        "prenom": "Marie",
        "civilite": "Mme",
        "email": "Marie.Dupont@Example.COM",
        "departement": "75",
        "code_postal": "75011",
        "ville": "Paris",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def submit(client, body, **extra):
    return client.post(URL, body, format="json", **extra)


def assert_stored_not_delivered(response, status, reasons):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True
    assert body["status"] == status
    assert body["stored"] is True
    assert body["warning"]
    assert body["crm"] is None
    lead = Lead.objects.get(pk=body["lead_id"])
    assert lead.status == status
    assert lead.reasons == reasons
    return lead


# --- The checks of SPEC §3.1, in order ------------------------------------------------


def test_unknown_form_is_stored_as_orphan(client, session):
    response = submit(client, lead_body(session, None, form_code="PV-999"))

    lead = assert_stored_not_delivered(response, "orphan", ["FORM_NOT_FOUND"])
    assert Lead.objects.count() == 1
    assert lead.form is None
    assert lead.form_code == "PV-999"
    assert lead.phone == PHONE
    assert lead.nom == "Dupont"
    assert lead.session == session


def test_invalid_phone_is_stored_with_the_number_as_sent(client, form, session):
    response = submit(client, lead_body(session, form, phone="01 23 45 67 89"))

    lead = assert_stored_not_delivered(response, "invalid_phone", ["PHONE_INVALID"])
    assert lead.phone == ""
    assert lead.phone_raw == "01 23 45 67 89"


def test_missing_nom_and_departement(client, form, session):
    response = submit(client, lead_body(session, form, nom="", departement="", code_postal=""))
    assert_stored_not_delivered(response, "missing_required", ["MISSING_REQUIRED:nom,departement"])


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"nom": ""}, "MISSING_REQUIRED:nom"),
        ({"nom": "   "}, "MISSING_REQUIRED:nom"),
        ({"nom": None}, "MISSING_REQUIRED:nom"),
        ({"departement": None, "code_postal": None}, "MISSING_REQUIRED:departement"),
        ({"departement": "20", "code_postal": None}, "MISSING_REQUIRED:departement"),
        ({"departement": "971", "code_postal": None}, "MISSING_REQUIRED:departement"),
        ({"departement": None, "code_postal": "97100"}, "MISSING_REQUIRED:departement"),
    ],
)
def test_only_the_missing_field_is_named(client, form, session, overrides, reason):
    response = submit(client, lead_body(session, form, **overrides))
    assert_stored_not_delivered(response, "missing_required", [reason])


def test_double_submit_within_5_seconds_answers_the_original_lead(client, form, session):
    with time_machine.travel(T0, tick=False) as traveller:
        first = submit(client, lead_body(session, form)).json()
        traveller.shift(timedelta(seconds=4))
        second = submit(client, lead_body(session, form))

    assert first["status"] == "pending"
    body = second.json()
    assert second.status_code == 200
    assert body["status"] == "double_submit"
    assert body["lead_id"] == first["lead_id"]
    assert body["stored"] is True
    assert body["warning"]
    # The second submission is stored too, with its own id.
    assert Lead.objects.count() == 2
    repeat = Lead.objects.exclude(pk=first["lead_id"]).get()
    assert repeat.status == "double_submit"
    assert repeat.reasons[0] == "DOUBLE_SUBMIT_BLOCKED"


def test_many_earlier_leads_never_hide_the_double_submit_nor_the_original(client, form, session):
    """A phone with dozens of earlier duplicates: the second click of the last
    5 s is still a double submit, and the duplicate reason names the oldest."""
    earlier = dict(form=form, phone="0612345678", status=Lead.Status.PENDING)
    oldest = LeadFactory(**earlier, created_at=T0 - timedelta(days=2))
    for minutes in range(25):
        LeadFactory(**earlier, created_at=T0 - timedelta(minutes=minutes + 1))
    with time_machine.travel(T0, tick=False) as traveller:
        first = submit(client, lead_body(session, form)).json()
        traveller.shift(timedelta(seconds=3))
        second = submit(client, lead_body(session, form)).json()

    assert second["status"] == "double_submit"
    assert second["lead_id"] == first["lead_id"]
    repeat = Lead.objects.get(pk=Lead.objects.order_by("-created_at").values("pk")[:1])
    assert repeat.reasons == ["DOUBLE_SUBMIT_BLOCKED", f"DUPLICATE:{oldest.pk}"]


def test_after_5_seconds_it_is_no_double_submit_but_a_duplicate(client, form, session):
    with time_machine.travel(T0, tick=False) as traveller:
        first = submit(client, lead_body(session, form)).json()
        traveller.shift(timedelta(seconds=6))
        second = submit(client, lead_body(session, form)).json()

    assert second["status"] == "duplicate_internal"
    assert second["lead_id"] != first["lead_id"]
    lead = Lead.objects.get(pk=second["lead_id"])
    assert lead.reasons == [f"DUPLICATE:{first['lead_id']}"]


def test_same_session_other_phone_is_no_double_submit(client, form, session):
    submit(client, lead_body(session, form))
    second = submit(client, lead_body(session, form, phone="0698765432")).json()
    assert second["status"] == "pending"


def test_same_phone_from_another_session_is_no_double_submit(client, form, session):
    submit(client, lead_body(session, form))
    other = VisitorSessionFactory(form=form)
    second = submit(client, lead_body(other, form)).json()
    assert second["status"] == "duplicate_internal"


def test_duplicate_within_the_products_window(client, form, session):
    original = LeadFactory(phone=PHONE, form=FormFactory(), created_at=T0 - timedelta(days=29))

    with time_machine.travel(T0, tick=False):
        response = submit(client, lead_body(session, form))

    lead = assert_stored_not_delivered(response, "duplicate_internal", [f"DUPLICATE:{original.pk}"])
    assert response.json()["lead_id"] == str(lead.pk) != str(original.pk)


def test_no_duplicate_after_the_window(client, form, session):
    LeadFactory(phone=PHONE, form=FormFactory(), created_at=T0 - timedelta(days=31))

    with time_machine.travel(T0, tick=False):
        body = submit(client, lead_body(session, form)).json()

    assert body["status"] == "pending"


@pytest.mark.parametrize(("days_ago", "status"), [(6, "duplicate_internal"), (8, "pending")])
def test_the_window_is_the_product_types_setting(client, form, session, days_ago, status):
    pv = product("PV")
    pv.dedupe_window_days = 7
    pv.save()
    LeadFactory(phone=PHONE, form=FormFactory(), created_at=T0 - timedelta(days=days_ago))

    with time_machine.travel(T0, tick=False):
        body = submit(client, lead_body(session, form)).json()

    assert body["status"] == status


def test_no_duplicate_for_another_product(client, form, session):
    LeadFactory(phone=PHONE, form=FormFactory(product_type=product("PAC")))
    assert submit(client, lead_body(session, form)).json()["status"] == "pending"


def test_no_duplicate_when_the_window_is_0(client, form, session):
    pv = product("PV")
    pv.dedupe_window_days = 0
    pv.save()
    LeadFactory(phone=PHONE, form=FormFactory(), created_at=T0 - timedelta(hours=1))

    with time_machine.travel(T0, tick=False):
        body = submit(client, lead_body(session, form)).json()

    assert body["status"] == "pending"


def test_window_0_double_submit_records_no_duplicate_reason(client, form, session):
    pv = product("PV")
    pv.dedupe_window_days = 0
    pv.save()
    with time_machine.travel(T0, tick=False) as traveller:
        submit(client, lead_body(session, form))
        traveller.shift(timedelta(seconds=2))
        submit(client, lead_body(session, form))

    repeat = Lead.objects.get(status="double_submit")
    assert repeat.reasons == ["DOUBLE_SUBMIT_BLOCKED"]


@pytest.mark.parametrize("status", Lead.REJECTED_STATUSES)
def test_no_duplicate_against_a_rejected_lead(client, form, session, status):
    LeadFactory(phone=PHONE, form=FormFactory(), status=status)
    assert submit(client, lead_body(session, form)).json()["status"] == "pending"


@pytest.mark.parametrize("status", Lead.DEDUPE_STATUSES)
def test_duplicate_against_a_routed_or_delivered_lead(client, form, session, status):
    original = LeadFactory(phone=PHONE, form=FormFactory(), status=status)
    response = submit(client, lead_body(session, form))
    assert response.json()["status"] == "duplicate_internal"
    assert Lead.objects.get(pk=response.json()["lead_id"]).reasons == [f"DUPLICATE:{original.pk}"]


def test_every_failing_check_is_kept_in_the_reasons(client, session):
    response = submit(
        client,
        lead_body(session, None, form_code="PV-999", phone="12", nom="", departement="99"),
    )
    assert_stored_not_delivered(
        response,
        "orphan",
        ["FORM_NOT_FOUND", "PHONE_INVALID", "MISSING_REQUIRED:nom,departement"],
    )


def test_invalid_phone_and_missing_name(client, form, session):
    response = submit(client, lead_body(session, form, phone="0611111111", nom=""))
    assert_stored_not_delivered(
        response, "invalid_phone", ["PHONE_INVALID", "MISSING_REQUIRED:nom"]
    )


def test_missing_name_on_a_duplicate_keeps_both_reasons(client, form, session):
    original = LeadFactory(phone=PHONE, form=FormFactory())
    response = submit(client, lead_body(session, form, nom=""))
    assert_stored_not_delivered(
        response, "missing_required", ["MISSING_REQUIRED:nom", f"DUPLICATE:{original.pk}"]
    )


def test_valid_lead_is_pending_with_its_crm(client, form, session):
    response = submit(client, lead_body(session, form))

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "success": True,
        "code": "lead_received",
        "lead_id": body["lead_id"],
        "status": "pending",
        "crm": "zr7",
        "message": body["message"],
    }
    lead = Lead.objects.get(pk=body["lead_id"])
    assert lead.status == Lead.Status.PENDING
    assert lead.reasons == []
    assert lead.source == Lead.Source.PUBLIC
    assert lead.form == form
    assert lead.account == form.account
    assert lead.product_type == form.product_type
    assert lead.landing_page == form.landing_page
    assert lead.phone == PHONE
    assert lead.phone_raw == "06 12 34 56 78"
    assert lead.email == "marie.dupont@example.com"
    assert (lead.civilite, lead.nom, lead.prenom, lead.ville) == ("Mme", "Dupont", "Marie", "Paris")
    assert lead.rgpd_consent is True
    assert lead.newsletter is False


def test_the_forms_crm_override_is_the_answered_crm(client, form, session):
    form.crm_override = CRMFactory(slug="mdl", name="MDL", only_ordered_leads=False)
    form.crm_override_api_key = "mdl-key"
    form.save()
    assert submit(client, lead_body(session, form)).json()["crm"] == "mdl"


def test_an_override_without_its_key_is_not_the_answered_crm(client, form, session):
    # Routing ignores an incomplete override (no key): so does the answer.
    form.crm_override = CRMFactory(slug="mdl", name="MDL", only_ordered_leads=False)
    form.save()
    assert submit(client, lead_body(session, form)).json()["crm"] == "zr7"


def test_a_lead_routing_would_hold_answers_no_crm(client, form, session):
    # zr7 now takes ordered leads only and has no order: the lead waits
    # (pending_no_order at delivery), so the answer names no CRM.
    CRM.objects.filter(slug="zr7").update(only_ordered_leads=True)
    body = submit(client, lead_body(session, form)).json()
    assert (body["status"], body["crm"]) == ("pending", None)


def test_form_found_by_id_and_by_lowercase_code(client, form, session):
    by_id = submit(client, lead_body(session, form, form_code=str(form.pk))).json()
    other = VisitorSessionFactory(form=form)
    by_code = submit(
        client, lead_body(other, form, form_code=form.code.lower(), phone="0698765432")
    ).json()

    assert Lead.objects.get(pk=by_id["lead_id"]).form == form
    assert Lead.objects.get(pk=by_code["lead_id"]).form == form


@pytest.mark.parametrize("form_code", ["²", "99999999999999999999999999", "PV-000"])
def test_odd_form_codes_make_an_orphan_never_a_500(client, session, form_code):
    response = submit(client, lead_body(session, None, form_code=form_code))
    assert_stored_not_delivered(response, "orphan", ["FORM_NOT_FOUND"])


def test_unknown_session_does_not_stop_the_lead(client, form):
    response = submit(client, lead_body(None, form, session_id="not-a-session"))
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.status == "pending"
    assert lead.session is None
    assert lead.lp_code == form.landing_page.code


# --- What is stored ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("postal_code", "departement"),
    [("75011", "75"), ("01000", "01"), ("20167", "2A"), ("20000", "2A"), ("20290", "2B")],
)
def test_department_derived_from_the_postal_code(client, form, session, postal_code, departement):
    response = submit(client, lead_body(session, form, departement=None, code_postal=postal_code))
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.status == "pending"
    assert lead.departement == departement


@pytest.mark.parametrize(("given", "departement"), [("1", "01"), ("2a", "2A"), (" 2b ", "2B")])
def test_department_normalised(client, form, session, given, departement):
    response = submit(client, lead_body(session, form, departement=given, code_postal=None))
    assert Lead.objects.get(pk=response.json()["lead_id"]).departement == departement


def test_given_department_wins_over_the_postal_code(client, form, session):
    response = submit(client, lead_body(session, form, departement="13", code_postal="75011"))
    assert Lead.objects.get(pk=response.json()["lead_id"]).departement == "13"


def test_housing_defaults(client, form, session):
    response = submit(client, lead_body(session, form, type_logement="", statut_occupant=None))
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.type_logement == "maison"
    assert lead.statut_occupant == "proprietaire"


def test_housing_values_given_are_kept(client, form, session):
    response = submit(
        client, lead_body(session, form, type_logement="appartement", statut_occupant="locataire")
    )
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert (lead.type_logement, lead.statut_occupant) == ("appartement", "locataire")


def test_optional_fields_are_stored_and_numbers_taken_as_text(client, form, session):
    response = submit(
        client,
        lead_body(
            session,
            form,
            adresse="1 rue de la Paix",
            surface_habitable=120,
            annee_construction="1985",
            type_chauffage="fioul",
            facture_electricite=150,
            facture_chauffage="90",
            type_projet="installation",
            delai_projet="3 mois",
            budget="10000",
            rgpd_consent=False,
            newsletter=True,
        ),
    )
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.adresse == "1 rue de la Paix"
    assert lead.surface_habitable == "120"
    assert lead.annee_construction == "1985"
    assert lead.type_chauffage == "fioul"
    assert lead.facture_electricite == "150"
    assert lead.facture_chauffage == "90"
    assert lead.type_projet == "installation"
    assert lead.delai_projet == "3 mois"
    assert lead.budget == "10000"
    assert lead.rgpd_consent is False
    assert lead.newsletter is True


def test_attribution_from_the_session(client, form, session):
    QualityMapping.objects.create(utm_campaign="spring", quality_tier="B")
    response = submit(client, lead_body(session, form))

    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("facebook", "cpc", "spring")
    assert lead.quality_tier == "B"
    assert lead.lp_code == form.landing_page.code
    assert lead.liaison_code == f"{form.landing_page.code}_{form.code}"


def test_utm_campaign_of_the_body_wins_and_sets_the_quality_tier(client, form, session):
    QualityMapping.objects.create(utm_campaign="spring", quality_tier="B")
    QualityMapping.objects.create(utm_campaign="premium", quality_tier="A")
    response = submit(client, lead_body(session, form, utm_campaign="premium"))

    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.utm_campaign == "premium"
    assert lead.utm_source == "facebook"
    assert lead.quality_tier == "A"


def test_no_quality_tier_without_a_mapping(client, form, session):
    response = submit(client, lead_body(session, form))
    assert Lead.objects.get(pk=response.json()["lead_id"]).quality_tier == ""


def test_the_session_becomes_converted_and_points_to_the_lead(client, form, session):
    assert session.status == VisitorSession.Status.ACTIVE
    response = submit(client, lead_body(session, form))

    session.refresh_from_db()
    assert session.status == VisitorSession.Status.CONVERTED
    assert list(session.leads.values_list("pk", flat=True)) == [
        Lead.objects.get(pk=response.json()["lead_id"]).pk
    ]


def test_a_rejected_lead_also_converts_its_session(client, form, session):
    submit(client, lead_body(session, form, phone="12"))
    session.refresh_from_db()
    assert session.status == VisitorSession.Status.CONVERTED
    assert session.leads.count() == 1


def test_register_date_is_unix_time(client, form, session):
    with time_machine.travel(T0, tick=False):
        response = submit(client, lead_body(session, form))

    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.register_date == int(T0.timestamp()) == 1740830400
    assert lead.created_at == T0


def test_client_ip_is_stored(form, session):
    response = submit(public_client(ip="192.0.2.44"), lead_body(session, form))
    assert Lead.objects.get(pk=response.json()["lead_id"]).ip == "192.0.2.44"


def test_lead_sent_as_text_plain(client, form, session):
    response = client.generic(
        "POST", URL, json.dumps(lead_body(session, form)), content_type="text/plain"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "pending"


# --- Refused before storing: 400 / 413 ---------------------------------------------------


def assert_400_naming(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False
    assert field in body["error"]
    assert field in body["fields"]
    assert not Lead.objects.exists()


@pytest.mark.parametrize("field", ["session_id", "form_code", "phone"])
def test_missing_required_field_answers_400_naming_it(client, form, session, field):
    body = lead_body(session, form)
    del body[field]
    assert_400_naming(submit(client, body), field)


@pytest.mark.parametrize("field", ["session_id", "form_code", "phone"])
def test_blank_required_field_answers_400_naming_it(client, form, session, field):
    assert_400_naming(submit(client, lead_body(session, form, **{field: ""})), field)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("{not json", "application/json"), ("[1, 2]", "text/plain"), ("", "application/json")],
)
def test_a_body_that_is_not_a_json_object_answers_400(client, body, content_type):
    response = client.generic("POST", URL, body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["error"]
    assert not Lead.objects.exists()


def test_body_over_the_limit_answers_413_json(client, form, session, settings):
    body = json.dumps(lead_body(session, form, adresse="x" * settings.PUBLIC_MAX_BODY_BYTES))
    assert len(body) > settings.PUBLIC_MAX_BODY_BYTES

    response = client.generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["success"] is False
    assert str(settings.PUBLIC_MAX_BODY_BYTES) in response.json()["error"]
    assert not Lead.objects.exists()


def test_body_limit_is_a_setting(client, form, session, settings):
    settings.PUBLIC_MAX_BODY_BYTES = 200
    body = json.dumps(lead_body(session, form))
    assert len(body) > 200
    response = client.generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 413


# --- Hand-off to delivery: lead_received after commit ----------------------------------


@pytest.fixture
def received():
    calls = []

    def receiver(sender, lead_id, **kwargs):
        calls.append(lead_id)

    lead_received.connect(receiver, dispatch_uid="test-intake-receiver")
    yield calls
    lead_received.disconnect(dispatch_uid="test-intake-receiver")


def test_lead_received_is_sent_once_after_commit_for_a_pending_lead(
    client, form, session, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, lead_body(session, form))
        assert received == []  # not before the transaction commits

    assert received == [Lead.objects.get(pk=response.json()["lead_id"]).pk]


@pytest.mark.parametrize(
    "overrides",
    [{"form_code": "PV-999"}, {"phone": "0123456789"}, {"nom": ""}],
    ids=["orphan", "invalid_phone", "missing_required"],
)
def test_lead_received_is_not_sent_for_a_rejected_lead(
    client, form, session, received, django_capture_on_commit_callbacks, overrides
):
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, lead_body(session, form, **overrides))

    assert response.json()["status"] != "pending"
    assert received == []


def test_lead_received_is_not_sent_for_a_double_submit_or_a_duplicate(
    client, form, session, received, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = submit(client, lead_body(session, form)).json()
        submit(client, lead_body(session, form))  # double submit
        submit(client, lead_body(VisitorSessionFactory(form=form), form))  # duplicate

    assert sorted(Lead.objects.values_list("status", flat=True)) == [
        "double_submit",
        "duplicate_internal",
        "pending",
    ]
    assert [str(lead_id) for lead_id in received] == [first["lead_id"]]


# --- Speed: a handful of queries, independent of table size ----------------------------


def count_queries(client, body) -> int:
    """Queries of one submission with cold configuration caches (the worst case)."""
    process_caches_clear()
    with CaptureQueriesContext(connection) as context:
        response = submit(client, body)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    return len(context.captured_queries)


def test_public_submission_takes_at_most_10_queries(
    client, form, session, django_assert_max_num_queries
):
    QualityMapping.objects.create(utm_campaign="spring", quality_tier="B")
    with django_assert_max_num_queries(10):
        response = submit(client, lead_body(session, form))
    assert response.json()["status"] == "pending"


def test_query_count_does_not_grow_with_the_table(client, form):
    QualityMapping.objects.create(utm_campaign="spring", quality_tier="B")
    before = count_queries(
        client, lead_body(VisitorSessionFactory(form=form, utm_campaign="spring"), form)
    )

    other_form = FormFactory()
    Lead.objects.bulk_create(
        [LeadFactory.build(form=other_form, phone=f"06{n:08d}") for n in range(500)]
        # Same phone, outside the window or rejected: what the checks must skip.
        + [
            LeadFactory.build(
                form=other_form, phone="0698765432", created_at=T0 - timedelta(days=400)
            )
            for _ in range(20)
        ]
        + [
            LeadFactory.build(form=other_form, phone="0698765432", status="invalid_phone")
            for _ in range(20)
        ]
    )
    after = count_queries(
        client,
        lead_body(
            VisitorSessionFactory(form=form, utm_campaign="spring"), form, phone="0698765432"
        ),
    )

    assert Lead.objects.count() == 542
    assert after == before
