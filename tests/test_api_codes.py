"""Every API answer carries a stable `code` beside its French message (issue
15, point 3): each code on the case that produces it, in French whatever the
Accept-Language, and the README lists them all."""

from pathlib import Path

import pytest
from django.db import DataError, OperationalError

from enersolar.api_codes import MESSAGES
from enersolar.http import PublicRateThrottle
from enersolar.services import api_key_create
from enersolar.tests.factories import UserFactory
from enersolar.tests.helpers import public_client
from tracking.tests.factories import FormFactory, LandingPageFactory, VisitorSessionFactory

pytestmark = pytest.mark.django_db

LEADS = "/api/public/leads"
PARTNER = "/api/v1/leads"
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def session():
    return VisitorSessionFactory(form=FormFactory())


def lead_body(session, **values):
    body = {
        "session_id": str(session.pk),
        "form_code": session.form.code,
        "phone": "0612345678",
        "nom": "Martin",
        "departement": "75",
    }
    return {**body, **values}


def answer(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code, body
    return body


def error(response, status: int, code: str) -> str:
    body = answer(response, status, code)
    assert body["success"] is False and body["error"]
    return body["error"]


# --- Success answers -----------------------------------------------------------------


def test_a_lead_to_deliver_is_lead_received(session):
    body = answer(
        public_client().post(LEADS, lead_body(session), format="json"), 200, "lead_received"
    )
    assert (body["success"], body["message"]) == (True, "Lead reçu.")


def test_a_lead_stored_but_not_delivered_is_lead_stored_with_a_french_warning(session):
    response = public_client().post(LEADS, lead_body(session, phone="0000"), format="json")
    body = answer(response, 200, "lead_stored")
    assert body["message"] == "Lead enregistré."
    assert body["warning"].startswith("Numéro de téléphone invalide")


def test_partner_field_notes_are_french():
    _key, raw = api_key_create(account=FormFactory(code="PV-NOTES").account, name="p")
    body = {"form_code": "PV-NOTES", "phone": "0612345678", "nom": "Martin", "departement": "75"}
    body["couleur"] = "bleu"
    response = public_client().post(PARTNER, body, format="json", HTTP_X_API_KEY=raw)
    notes = answer(response, 200, "lead_received")["fields"]
    assert notes == {"couleur": "champ inconnu : gardé seulement dans la charge brute"}


def test_session_and_events_answer_their_codes(session):
    client = public_client()
    start = {"lp_code": "LP-001", "visitor_id": "v-codes"}
    first = answer(
        client.post("/api/public/track/session", start, format="json"), 200, "session_started"
    )
    again = client.post("/api/public/track/session", start, format="json")
    assert answer(again, 200, "session_reused")["session_id"] == first["session_id"]
    event = {"session_id": first["session_id"], "event_type": "cta_click"}
    answer(client.post("/api/public/track/event", event, format="json"), 200, "event_recorded")
    answer(client.post("/api/public/track/event", event, format="json"), 200, "event_duplicate")


# --- Errors of the request ---------------------------------------------------------


def test_a_missing_field_is_invalid_fields_in_french_whatever_accept_language(session):
    body = lead_body(session)
    del body["phone"]
    response = public_client().post(LEADS, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    message = error(response, 400, "invalid_fields")
    assert message == "Champs invalides : phone."
    assert response.json()["fields"] == {"phone": ["Ce champ est obligatoire."]}


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        (b"{nope", "invalid_json", "Le corps n'est pas du JSON valide (ligne 1, colonne 2)."),
        (b"[" * 40 + b"]" * 40, "json_too_deep", "JSON imbriqué sur plus de 32 niveaux."),
        (b'{"a": "\xff"}', "invalid_utf8", "Le corps n'est pas de l'UTF-8 valide (octet 7)."),
        (b"[1, 2]", "body_not_object", "Le corps n'est pas un objet JSON."),
    ],
)
def test_a_broken_body_answers_its_code(raw, code, message):
    response = public_client().generic("POST", LEADS, raw, content_type="application/json")
    assert error(response, 400, code) == message


def test_a_body_too_large_is_body_too_large(settings):
    settings.PUBLIC_MAX_BODY_BYTES = 100
    response = public_client().generic("POST", LEADS, b"{" + b" " * 200 + b"}", "application/json")
    assert "100 octets" in error(response, 413, "body_too_large")


def test_a_control_character_in_the_path_is_invalid_path():
    error(public_client().get("/api/forms/public/PV%00"), 400, "invalid_path")


def test_an_unknown_api_path_is_not_found():
    assert error(public_client().get("/api/nowhere"), 404, "not_found") == "Introuvable."


def test_unknown_session_form_and_landing_page_have_their_codes():
    client = public_client()
    event = {"session_id": "6f1c2a4e-1111-4222-8333-444455556666", "event_type": "cta_click"}
    error(client.post("/api/public/track/event", event, format="json"), 404, "unknown_session")
    error(client.get("/api/forms/public/NOPE-1"), 404, "unknown_form")
    landing_page = LandingPageFactory()
    error(client.get(f"/api/forms/public/by-lp/{landing_page.code}"), 404, "unknown_landing_page")


def test_a_wrong_method_is_method_not_allowed():
    assert error(public_client().get(LEADS), 405, "method_not_allowed") == (
        "Méthode GET non autorisée."
    )


def test_partner_without_or_with_a_bad_key(session):
    body = {"form_code": session.form.code, "phone": "0612345678"}
    assert error(public_client().post(PARTNER, body, format="json"), 401, "missing_api_key") == (
        "Clé API manquante."
    )
    response = public_client().post(PARTNER, body, format="json", HTTP_X_API_KEY="nope")
    error(response, 401, "invalid_api_key")


def test_too_many_requests_is_throttled(monkeypatch, session):
    monkeypatch.setattr(PublicRateThrottle, "THROTTLE_RATES", {"public_tracking": "1/min"})
    client = public_client()
    client.get("/api/forms/config/departements")
    message = error(client.get("/api/forms/config/departements"), 429, "throttled")
    assert message.startswith("Trop de requêtes")


def test_staff_api_without_the_permission_is_permission_required(client):
    client.force_login(UserFactory(role="Viewer"))
    response = client.post("/api/queue/process")
    message = error(response, 403, "permission_required")
    assert message.startswith("Permission requise : ")


def test_staff_api_anonymous_is_not_authenticated(client):
    error(client.get("/api/queue/stats"), 401, "not_authenticated")


def test_the_api_documentation_is_staff_only(client, settings):
    settings.API_DOCS_PUBLIC = False
    client.force_login(UserFactory(is_staff=False))
    error(client.get("/api/schema/?format=json"), 403, "staff_only")


# --- Errors of the service ---------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [(DataError, 400, "value_not_storable"), (OperationalError, 503, "service_unavailable")],
)
def test_database_errors_have_their_codes(monkeypatch, session, failure, status, code):
    def refuse(**kwargs):
        raise failure("refused")

    monkeypatch.setattr("leads.apis.lead_receive", refuse)
    error(public_client().post(LEADS, lead_body(session), format="json"), status, code)


# --- The list ----------------------------------------------------------------------


def test_the_readme_lists_every_code():
    readme = README.read_text()
    missing = [code for code in MESSAGES if f"`{code}`" not in readme]
    assert missing == []
