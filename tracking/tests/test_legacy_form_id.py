"""An imported form answers to the id the legacy system gave it.

Landing pages built on the legacy system post the form's id (a UUID) as
`form_code`; its intake looked forms up by code or by id. After the switch,
sessions, leads and the public form configuration reach the imported form
through `Form.legacy_id`, which the legacy import sets."""

import uuid

import pytest

from enersolar.tests.helpers import public_client
from leads.models import Lead
from tracking.brief import brief_build
from tracking.models import VisitorSession
from tracking.selectors import form_by_code_or_id, form_by_legacy_id
from tracking.tests.factories import FormFactory

pytestmark = pytest.mark.django_db

LEGACY_ID = str(uuid.UUID("0b0e7a44-1b7c-4d5e-9f7a-3c2d1e0f9a8b"))


@pytest.fixture
def form():
    return FormFactory(legacy_id=LEGACY_ID)


def test_the_lookup_accepts_the_legacy_id_in_any_case(form):
    assert form_by_legacy_id(LEGACY_ID) == form
    assert form_by_code_or_id(LEGACY_ID.upper()) == form
    assert form_by_code_or_id(form.code.lower()) == form  # codes still work
    assert form_by_code_or_id(str(uuid.uuid4())) is None


def test_a_session_opened_with_the_legacy_id_reaches_the_form(form):
    response = public_client().post(
        "/api/public/track/session",
        {"lp_code": form.landing_page.code, "form_code": LEGACY_ID},
        format="json",
    )

    assert response.status_code == 200, response.content
    session = VisitorSession.objects.get(pk=response.json()["session_id"])
    assert session.form == form
    assert session.account == form.account


def test_a_lead_posted_with_the_legacy_id_reaches_the_form(form):
    response = public_client().post(
        "/api/public/leads",
        {
            "session_id": str(uuid.uuid4()),
            "form_code": LEGACY_ID,
            "phone": "06 12 34 56 78",
            "nom": "Dupont",
            "departement": "75",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    lead = Lead.objects.get(pk=response.json()["lead_id"])
    assert lead.form == form
    assert lead.status != Lead.Status.ORPHAN
    assert lead.form_code == LEGACY_ID  # as sent


def test_the_public_form_configuration_answers_to_the_legacy_id(form):
    response = public_client().get(f"/api/forms/public/{LEGACY_ID}")

    assert response.status_code == 200, response.content
    assert response.json()["form_code"] == form.code


def test_the_brief_of_an_imported_form_names_the_identifier_its_pages_post(form):
    mini = brief_build(form)["mini_brief"]

    assert mini["legacy_form_id"] == LEGACY_ID
    assert any(LEGACY_ID in warning and form.code in warning for warning in mini["warnings"])
    assert brief_build(FormFactory())["mini_brief"]["legacy_form_id"] == ""
