"""CSV in the admin: lead import (preview = dry run, row errors, confirm) and
export of admin lists."""

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import NoReverseMatch, reverse

from enersolar.models import ActivityLog
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory
from routing.tests.factories import OrderFactory
from tracking.tests.factories import FormFactory

pytestmark = pytest.mark.django_db

HEADER = "form_code,phone,nom,prenom,email,code_postal,rgpd_consent,newsletter\n"


def streamed_text(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_superuser=True))
    return client


def _upload(client, text: str):
    return client.post(
        reverse("admin:leads_lead_import"),
        {
            "import_file": SimpleUploadedFile("leads.csv", text.encode(), "text/csv"),
            "format": "0",
            "resource": "0",
        },
    )


def _confirm(client, preview):
    page = preview.content.decode()
    fields = dict(re.findall(r'name="(\w+)"[^>]*value="([^"]*)"', page))
    data = {
        k: fields[k]
        for k in ("import_file_name", "original_file_name", "format", "resource")
        if k in fields
    }
    return client.post(reverse("admin:leads_lead_process_import"), data)


def test_import_preview_is_a_dry_run_then_confirm_stores_classified_leads(
    staff, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("routing.tasks.dispatch_leads", lambda ids, claim=None: sent.append(ids))
    form = FormFactory()
    text = HEADER + (
        f"{form.code},06 12 34 56 78,Martin,Claire,Claire@Example.fr,75011,oui,non\n"
        f"{form.code},0611111111,Durand,Paul,,69003,,\n"
    )

    with django_capture_on_commit_callbacks(execute=True):
        preview = _upload(staff, text)

    assert preview.status_code == 200
    page = preview.content.decode()
    assert "Martin" in page and "invalid_phone" in page  # classified in the preview
    assert not Lead.objects.exists()  # the preview wrote nothing
    assert sent == []

    with django_capture_on_commit_callbacks(execute=True):
        _confirm(staff, preview)

    martin = Lead.objects.get(nom="Martin")
    assert (martin.phone, martin.email, martin.departement) == (
        "0612345678",
        "claire@example.fr",
        "75",
    )
    assert (martin.status, martin.source, martin.form) == (Lead.Status.PENDING, "import", form)
    assert martin.rgpd_consent is True and martin.newsletter is False
    assert Lead.objects.get(nom="Durand").status == Lead.Status.INVALID_PHONE
    assert sent == [[martin.pk]]  # a valid imported lead goes to delivery, like the API's


def test_import_reports_errors_per_row_and_imports_nothing(staff):
    form = FormFactory()
    text = HEADER + (
        f"{form.code},0612345678,Martin,Claire,,75011,oui,\n"
        f"{form.code},,Sans,Téléphone,,75011,,\n"
        "PV-999,0612345679,Inconnu,Form,,75011,,\n"
        f"{form.code},0612345670,Bad,Consent,,75011,peut-être,\n"
    )

    page = _upload(staff, text).content.decode()

    assert "phone is required" in page
    assert "unknown form" in page and "PV-999" in page
    assert "not a yes/no value" in page
    assert not Lead.objects.exists()
    assert 'name="import_file_name"' not in page  # no confirm button with errors


def test_a_csv_without_the_columns_is_refused(staff):
    page = _upload(staff, "name,telephone\nA,0612345678\n").content.decode()
    assert not Lead.objects.exists()
    assert "phone" in page


def test_viewers_cannot_import(client):
    client.force_login(UserFactory(role="Viewer"))
    assert client.get(reverse("admin:leads_lead_import")).status_code == 403


def _export_selected(client, changelist: str, pks) -> list[dict]:
    response = client.post(
        reverse(changelist),
        {"action": "export_admin_action", "_selected_action": [str(pk) for pk in pks]},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(streamed_text(response))))


@pytest.fixture
def skip_export_form(settings):
    settings.IMPORT_EXPORT_SKIP_ADMIN_ACTION_EXPORT_UI = True


def test_export_selected_leads(staff, skip_export_form):
    leads = [LeadFactory(nom="Martin"), LeadFactory(nom="Durand")]
    rows = _export_selected(staff, "admin:leads_lead_changelist", [lead.pk for lead in leads])
    assert sorted(r["nom"] for r in rows) == ["Durand", "Martin"]
    assert rows[0]["product_type"] == "PV"
    assert "api_key" not in rows[0]


def test_export_orders(staff, skip_export_form):
    order = OrderFactory(name="Printemps")
    rows = _export_selected(staff, "admin:routing_order_changelist", [order.pk])
    assert rows[0]["name"] == "Printemps"
    assert rows[0]["unit_price"] == "25,00"  # the admin's language: French
    assert "api_key" not in rows[0]  # secrets never leave the admin


def test_users_export_without_password_hashes(staff, skip_export_form):
    user = UserFactory(username="viewer1")
    rows = _export_selected(staff, "admin:auth_user_changelist", [user.pk])
    assert rows[0]["username"] == "viewer1"
    assert "password" not in rows[0]


def test_tokens_are_not_exportable():
    with pytest.raises(NoReverseMatch):
        reverse("admin:authtoken_tokenproxy_export")


@pytest.mark.parametrize(
    "model",
    [
        "leads_lead",
        "routing_order",
        "tracking_form",
        "enersolar_account",
        "enersolar_crm",
        "billing_statement",
        "enersolar_activitylog",
        "routing_delivery",
        "legacy_importbatch",
    ],
)
def test_every_list_has_an_export(staff, model):
    page = staff.get(reverse(f"admin:{model}_changelist")).content.decode()
    assert reverse(f"admin:{model}_export") in page


def test_export_page_of_the_whole_list(staff):
    ActivityLog.objects.create(action="other", object_repr="x")
    response = staff.get(reverse("admin:enersolar_activitylog_export"))
    assert response.status_code == 200
