"""Every JSON object is stored (issue 12): values coerced or cut, the raw
payload kept, consent respected, a repeated submission stored once."""

import threading
import uuid

import pytest
from django.db import connection
from django.urls import reverse

from enersolar.services import api_key_create
from enersolar.tests.factories import AccountRoutingFactory, CRMFactory, product
from enersolar.tests.helpers import public_client
from leads.models import Lead
from leads.signals import lead_received
from tracking.tests.factories import FormFactory, VisitorSessionFactory

URL = "/api/public/leads"
PARTNER_URL = "/api/v1/leads"

pytestmark = pytest.mark.django_db


@pytest.fixture
def form():
    form = FormFactory()
    AccountRoutingFactory(
        account=form.account, product_type=form.product_type, crm=CRMFactory(slug="zr7")
    )
    return form


@pytest.fixture
def session(form):
    return VisitorSessionFactory(form=form)


@pytest.fixture
def client():
    return public_client()


def body_of(session, form, **overrides) -> dict:
    body = {
        "session_id": str(session.pk),
        "form_code": form.code,
        "phone": "06 12 34 56 78",
        "nom": "Dupont",
        "departement": "75",
    }
    body.update(overrides)
    return body


def submit(client, body, **extra):
    response = client.post(URL, body, format="json", **extra)
    assert response.status_code == 200, response.content
    return response.json(), Lead.objects.get(pk=response.json()["lead_id"])


# --- Coercion: what real landing pages send -----------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("oui", True),
        ("on", True),
        ("true", True),
        ("1", True),
        (1, True),
        (True, True),
        (" OUI ", True),
        (None, True),  # not given: the default
        ("", True),
    ],
)
def test_consent_values_meaning_yes_or_not_given_are_stored_and_delivered(
    client, form, session, sent, stored
):
    answer, lead = submit(client, body_of(session, form, rgpd_consent=sent))
    assert answer["status"] == Lead.Status.PENDING
    assert lead.rgpd_consent is stored
    assert lead.raw_payload["rgpd_consent"] == sent


@pytest.mark.parametrize("sent", [False, "false", "non", "off", "0", 0, "NON"])
def test_refused_consent_is_stored_as_no_consent_and_never_handed_to_delivery(
    client, form, session, sent
):
    handed = []

    def receiver(**kwargs):
        handed.append(kwargs["lead_id"])

    lead_received.connect(receiver)
    try:
        answer, lead = submit(client, body_of(session, form, rgpd_consent=sent))
    finally:
        lead_received.disconnect(receiver)
    assert answer["status"] == Lead.Status.NO_CONSENT
    assert answer["stored"] is True
    assert "Consentement refusé" in answer["warning"]
    assert lead.status == Lead.Status.NO_CONSENT
    assert lead.reasons == ["CONSENT_REFUSED"]
    assert lead.rgpd_consent is False
    assert handed == []
    assert Lead.Status.NO_CONSENT in Lead.REJECTED_STATUSES


def test_an_unreadable_consent_is_taken_as_refused_and_named(client, form, session):
    answer, lead = submit(client, body_of(session, form, rgpd_consent="maybe"))
    assert lead.status == Lead.Status.NO_CONSENT
    assert lead.reasons == ["CONSENT_REFUSED", "VALUE_REJECTED:rgpd_consent"]
    assert lead.raw_payload["rgpd_consent"] == "maybe"


@pytest.mark.parametrize(("sent", "stored"), [("", False), ("on", True), (None, False)])
def test_newsletter_values(client, form, session, sent, stored):
    _answer, lead = submit(client, body_of(session, form, newsletter=sent))
    assert lead.newsletter is stored
    assert lead.status == Lead.Status.PENDING


@pytest.mark.parametrize(
    ("field", "length", "column"),
    [("nom", 101, 100), ("ville", 150, 100), ("adresse", 300, 255), ("utm_campaign", 256, 255)],
)
def test_over_long_text_is_cut_in_its_column_and_kept_whole_in_the_raw_payload(
    client, form, session, field, length, column
):
    whole = "Saint-Rémy " * (length // 11) + "x" * (length % 11)
    assert len(whole) == length
    answer, lead = submit(client, body_of(session, form, **{field: whole}))
    assert answer["status"] == Lead.Status.PENDING
    assert getattr(lead, field) == whole[:column].rstrip()
    assert lead.raw_payload[field] == whole
    assert lead.reasons == [f"VALUE_CUT:{field}"]


def test_an_over_long_phone_is_cut_and_the_lead_invalid(client, form, session):
    answer, lead = submit(client, body_of(session, form, phone="0612345678" * 4))
    assert answer["status"] == Lead.Status.INVALID_PHONE
    assert lead.phone_raw == ("0612345678" * 4)[:30]
    assert lead.raw_payload["phone"] == "0612345678" * 4
    assert lead.reasons == ["PHONE_INVALID", "VALUE_CUT:phone"]


def test_numbers_are_taken_as_text_and_unknown_fields_kept_in_the_raw_payload(
    client, form, session
):
    body = body_of(
        session, form, phone=612345678, surface_habitable=120, budget=15000.5, couleur="bleu"
    )
    answer, lead = submit(client, body)
    assert answer["status"] == Lead.Status.PENDING
    assert lead.phone == "0612345678"
    assert (lead.surface_habitable, lead.budget) == ("120", "15000.5")
    assert lead.raw_payload == body
    assert lead.reasons == []


def test_a_value_of_the_wrong_type_is_named_and_gets_the_matching_status(client, form, session):
    body = body_of(session, form, nom=["Dupont"], civilite={"x": 1}, email=True)
    answer, lead = submit(client, body)
    assert answer["status"] == Lead.Status.MISSING_REQUIRED
    assert lead.reasons == ["MISSING_REQUIRED:nom", "VALUE_REJECTED:nom,civilite,email"]
    assert (lead.nom, lead.civilite, lead.email) == ("", "", "")
    assert lead.raw_payload["nom"] == ["Dupont"]


def test_a_phone_that_is_not_text_makes_an_invalid_phone_lead(client, form, session):
    answer, lead = submit(client, body_of(session, form, phone={"number": "0612345678"}))
    assert answer["status"] == Lead.Status.INVALID_PHONE
    assert lead.reasons == ["PHONE_INVALID", "VALUE_REJECTED:phone"]


def test_control_characters_are_removed_from_the_columns_only(client, form, session):
    answer, lead = submit(
        client, body_of(session, form, nom="Du\x00pont\nlevel=ERROR", ville="Pa\tris")
    )
    assert lead.nom == "Du pont level=ERROR"
    assert lead.ville == "Pa ris"
    assert lead.raw_payload["nom"] == "Du\ufffdpont\nlevel=ERROR"  # NUL: no database stores it
    assert answer["status"] == Lead.Status.PENDING


@pytest.mark.parametrize("field", ["session_id", "form_code", "phone"])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_missing_required_field_is_still_a_400_naming_it(client, form, session, field, blank):
    response = client.post(URL, body_of(session, form, **{field: blank}), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert not Lead.objects.exists()


# --- The partner API ------------------------------------------------------------------------


@pytest.fixture
def partner(form):
    _key, raw = api_key_create(account=form.account, name="partner")
    return {"HTTP_AUTHORIZATION": f"Token {raw}"}


def test_the_partner_answer_says_per_field_what_was_done(client, form, partner):
    body = {
        "form_code": form.code,
        "phone": "0612345678",
        "nom": "N" * 120,
        "departement": 75,
        "rgpd_consent": "oui",
        "civilite": ["M"],
        "couleur": "bleu",
        "prenom": "Paul",
    }
    response = client.post(PARTNER_URL, body, format="json", **partner)
    assert response.status_code == 200, response.content
    fields = response.json()["fields"]
    assert fields == {
        "nom": "coupé à 100 caractères (valeur entière dans la charge brute)",
        "departement": "converti en texte",
        "rgpd_consent": "converti en vrai",
        "civilite": "refusé : pas du texte (list)",
        "couleur": "champ inconnu : gardé seulement dans la charge brute",
    }
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.raw_payload == body
    assert lead.source == Lead.Source.PARTNER


def test_the_partner_api_takes_a_product_type_without_form_code(client, form, partner):
    product("PV")
    body = {"product_type": "PV", "phone": "0612345678", "nom": "A", "departement": "69"}
    response = client.post(PARTNER_URL, body, format="json", **partner)
    assert response.status_code == 200, response.content


def test_the_partner_api_without_phone_is_a_400(client, form, partner):
    response = client.post(PARTNER_URL, {"form_code": form.code}, format="json", **partner)
    assert response.status_code == 400
    assert "phone" in response.json()["error"]


# --- Consent proof ------------------------------------------------------------------


def test_the_consent_proof_is_kept(form, session):
    client = public_client(ip="203.0.113.9")
    answer, lead = submit(
        client,
        body_of(session, form, page_url="https://lp.example.fr/solaire?utm_source=fb"),
        HTTP_USER_AGENT="Mozilla/5.0 Test",
        HTTP_REFERER="https://lp.example.fr/other",
    )
    assert lead.rgpd_consent is True
    assert lead.consent_at == lead.created_at
    assert lead.ip == "203.0.113.9"
    assert lead.consent_user_agent == "Mozilla/5.0 Test"
    assert lead.consent_page_url == "https://lp.example.fr/solaire?utm_source=fb"


def test_the_page_url_defaults_to_the_referer(client, form, session):
    _answer, lead = submit(client, body_of(session, form), HTTP_REFERER="https://lp.example.fr/")
    assert lead.consent_page_url == "https://lp.example.fr/"


# --- Idempotent submissions -------------------------------------------------------------


def test_a_submission_retried_five_times_is_stored_once_and_answered_the_same(
    client, form, session
):
    key = str(uuid.uuid4())
    body = body_of(session, form, submission_id=key)
    answers = [client.post(URL, body, format="json") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 6
    assert all(a.json() == answers[0].json() for a in answers)
    assert [a.get("Idempotent-Replayed") for a in answers] == [None] + ["true"] * 5
    assert Lead.objects.count() == 1
    lead = Lead.objects.get()
    assert answers[0].json()["lead_id"] == str(lead.pk)
    assert lead.status == Lead.Status.PENDING


def test_the_header_is_an_idempotency_key_too_even_after_the_lead_moved_on(client, form, session):
    first = client.post(URL, body_of(session, form), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    Lead.objects.update(status=Lead.Status.SUCCESS)  # delivered since
    again = client.post(URL, body_of(session, form), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.json() == first.json()
    assert again.json()["status"] == Lead.Status.PENDING
    assert Lead.objects.count() == 1


def test_a_rejected_first_answer_is_answered_again(client, form, session):
    body = body_of(session, form, phone="0000", submission_id="abc-123")
    first = client.post(URL, body, format="json")
    again = client.post(URL, body, format="json")
    assert first.json()["status"] == Lead.Status.INVALID_PHONE
    assert again.json() == first.json()
    assert Lead.objects.count() == 1


def test_other_submission_ids_are_other_leads(client, form):
    for n in range(2):
        session = VisitorSessionFactory(form=form)
        client.post(URL, body_of(session, form, submission_id=f"id-{n}"), format="json")
    assert Lead.objects.count() == 2


def test_partners_have_their_own_submission_ids(client, form, partner):
    body = {"form_code": form.code, "phone": "0612345678", "nom": "A", "departement": "69"}
    public = client.post(
        URL, {**body, "session_id": str(uuid.uuid4())}, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    other_partner = api_key_create(account=FormFactory().account, name="other")[1]
    p1 = client.post(PARTNER_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="same", **partner)
    p2 = client.post(
        PARTNER_URL,
        {**body, "product_type": "PV"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="same",
        HTTP_AUTHORIZATION=f"Token {other_partner}",
    )
    assert len({public.json()["lead_id"], p1.json()["lead_id"], p2.json()["lead_id"]}) == 3
    assert Lead.objects.count() == 3


def test_an_unusable_submission_id_is_ignored_and_said(client, form, partner):
    body = {"form_code": form.code, "phone": "0612345678", "submission_id": "has space"}
    response = client.post(PARTNER_URL, body, format="json", **partner)
    assert response.status_code == 200
    assert response.json()["fields"]["submission_id"].startswith("refusé")
    assert Lead.objects.get().idempotency_key == ""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("same_phone", [True, False])
def test_concurrent_retries_of_one_submission_store_one_lead(same_phone):
    form = FormFactory()
    AccountRoutingFactory(
        account=form.account, product_type=form.product_type, crm=CRMFactory(slug="zr7")
    )
    key = str(uuid.uuid4())
    threads_count = 4
    barrier = threading.Barrier(threads_count)
    answers, errors = [], []
    lock = threading.Lock()

    def post(n):
        try:
            phone = "0612345678" if same_phone else f"061234567{n}"
            body = {
                "session_id": str(uuid.uuid4()),
                "form_code": form.code,
                "phone": phone,
                "nom": "A",
                "departement": "75",
            }
            client = public_client()
            barrier.wait(timeout=10)
            response = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
            with lock:
                answers.append((response.status_code, response.json()))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert [status for status, _ in answers] == [200] * threads_count
    assert Lead.objects.count() == 1
    assert {answer["lead_id"] for _, answer in answers} == {str(Lead.objects.get().pk)}


# --- The lead page ----------------------------------------------------------------------


def test_the_lead_page_shows_the_raw_payload_the_consent_proof_and_the_reason_in_words(
    admin_client, form, session
):
    client = public_client(ip="203.0.113.7")
    body = body_of(
        session,
        form,
        rgpd_consent="non",
        ville="V" * 120,
        couleur="<b>bleu</b>",
        page_url="https://lp.example.fr/pv",
    )
    _answer, lead = submit(client, body, HTTP_USER_AGENT="Firefox/99")

    for name in ("leads_lead_change", "leads_rejectedlead_change"):
        page = admin_client.get(reverse(f"admin:{name}", args=[lead.pk])).content.decode()
        assert "V" * 120 in page  # whole, in the submitted data
        assert "&lt;b&gt;bleu&lt;/b&gt;" in page  # escaped, never markup
        assert "Firefox/99" in page
        assert "https://lp.example.fr/pv" in page
        assert "203.0.113.7" in page
    page = admin_client.get(reverse("admin:leads_rejectedlead_change", args=[lead.pk]))
    text = page.content.decode()
    assert "Consentement refusé par le visiteur" in text
    assert "Coupé à la longueur du champ" in text


def test_a_submission_id_costs_no_extra_query(client, form):
    from django.test.utils import CaptureQueriesContext

    counts = []
    # The first lead loads the configuration cache: measure the next two.
    for n, extra in enumerate([{}, {}, {"submission_id": "sub-1"}]):
        session = VisitorSessionFactory(form=form)
        body = body_of(session, form, phone=f"06123456{70 + n}", **extra)
        with CaptureQueriesContext(connection) as queries:
            assert client.post(URL, body, format="json").status_code == 200
        counts.append(len(queries))
    assert counts[1] == counts[2]
