"""GET /api/leads/<id> (a lead with its attempts and history) and the
campaign filter, the same in the API, the admin's lists and their exports
(issue 15, point 5)."""

import csv
import io
import re

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from enersolar.models import QualityMapping
from enersolar.roles import VIEWER
from enersolar.tests.factories import UserFactory
from leads.corrections import lead_correct
from leads.models import Lead
from leads.services import lead_receive

from .helpers import make_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(buyer):
    return make_world(buyer.url("zr7"))


def with_token(client, role=VIEWER):
    user = UserFactory(role=role)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
    return user


def test_a_corrected_lead_with_its_attempts_and_history(
    client, buyer, world, django_capture_on_commit_callbacks
):
    buyer.answer(500, {"message": "upstream down"}, times=1)
    body = {"form_code": world.form.code, "phone": "06123456", "nom": "Martin", "departement": "69"}
    lead = lead_receive(data=body, ip="203.0.113.9").lead
    editor = UserFactory(role="Editor")
    with django_capture_on_commit_callbacks(execute=True):
        lead_correct(lead=lead, changes={"phone": "0612345678"}, user=editor)
    with_token(client)

    response = client.get(f"/api/leads/{lead.pk}")

    assert response.status_code == 200, response.content
    data = response.json()
    assert data["id"] == str(lead.pk)
    assert data["phone"] == "0612345678" and data["phone_raw"] == "06123456"
    assert data["delivery"]["target_crm"] == "zr7"
    # The buyer's 500 is the first attempt: delivery retries it later.
    (attempt,) = data["attempts"]
    assert (attempt["crm"], attempt["http_status"], attempt["outcome"]) == (
        "zr7",
        500,
        "transient",
    )
    (entry,) = data["history"]
    assert entry["user"] == editor.get_username()
    assert entry["details"]["correction"]["phone"] == {"old": "06123456", "new": "0612345678"}
    assert entry["details"]["from_status"] == Lead.Status.INVALID_PHONE


def test_an_unknown_lead_is_a_404_with_a_message(client, world):
    with_token(client)

    response = client.get("/api/leads/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response.json()


def test_the_lead_detail_is_in_the_openapi_schema(client, world):
    with_token(client)

    schema = client.get("/api/schema/?format=json").json()

    assert "/api/leads/{lead_id}" in schema["paths"]
    assert "utm_campaign" in {p["name"] for p in schema["paths"]["/api/leads"]["get"]["parameters"]}


@pytest.mark.parametrize(
    "admin_list", ["admin:leads_lead_changelist", "admin:leads_rejectedlead_changelist"]
)
def test_the_campaign_filter_means_the_same_in_the_admin_and_the_api(
    client, admin_client, world, admin_list
):
    QualityMapping.objects.create(utm_campaign="solaire-ete", quality_tier="A")
    rejected = admin_list.endswith("rejectedlead_changelist")
    status = Lead.Status.INVALID_PHONE if rejected else Lead.Status.PENDING
    wanted = {str(world.lead(utm_campaign="solaire-ete", status=status).pk) for _ in range(2)}
    world.lead(utm_campaign="Solaire-Ete", status=status)
    world.lead(utm_campaign="", status=status)
    with_token(client)

    page = admin_client.get(reverse(admin_list), {"utm_campaign": "solaire-ete"})
    api = client.get(
        "/api/leads",
        {"utm_campaign": "solaire-ete", **({"status": "invalid_phone"} if rejected else {})},
    )

    shown = set(
        re.findall(r'href="/admin/leads/\w+/([0-9a-f-]{36})/change/', page.content.decode())
    )
    assert shown == wanted
    assert {row["id"] for row in api.json()["results"]} == wanted
    # The export of the filtered list: the same leads, nothing else.
    export = admin_client.post(
        reverse(admin_list.replace("changelist", "export")) + "?utm_campaign=solaire-ete",
        {"format": "0", "resource": "0", "leadexportresource_id": "on"},
    )
    assert export.status_code == 200
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    assert {row["id"] for row in csv.DictReader(io.StringIO(text))} == wanted
