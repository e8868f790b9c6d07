"""The French back office's words (issue 15, point 3), page by page: what the
browser crawl (tests/browser/test_french_crawl_browser.py) checks everywhere,
here each on its case, without a browser."""

import html
import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from enersolar.models import ActivityLog
from enersolar.roles import ADMIN, EDITOR, VIEWER, roles_sync
from enersolar.services import journal_record
from enersolar.tests.factories import UserFactory
from leads.tests.factories import LeadFactory
from routing.models import VerificationReport
from routing.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    assert response.status_code == 200, response.status_code
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(text).split())


def test_roles_have_french_names_and_former_groups_are_renamed_with_their_members():
    assert (ADMIN, EDITOR, VIEWER) == ("Administrateur", "Éditeur", "Lecteur")
    lecteur = Group.objects.get(name=VIEWER)
    lecteur.name = "Viewer"  # as before issue 15
    lecteur.save()
    member = UserFactory()
    lecteur.user_set.add(member)

    roles_sync()

    assert not Group.objects.filter(name__in=["Admin", "Editor", "Viewer"]).exists()
    renamed = Group.objects.get(name=VIEWER)
    assert renamed.pk == lecteur.pk and member in renamed.user_set.all()
    assert renamed.permissions.filter(codename="view_lead").exists()


def test_a_role_given_by_its_former_english_name_in_tests_is_the_french_group():
    user = UserFactory(role="Editor")
    assert list(user.groups.values_list("name", flat=True)) == [EDITOR]


def test_the_journal_shows_the_model_name_not_its_label(admin_client):
    order = OrderFactory(name="Solaire IDF")
    journal_record(user=None, action=ActivityLog.Action.OTHER, obj=order)

    text = page_text(admin_client.get(reverse("admin:enersolar_activitylog_changelist")))

    assert "routing.order" not in text
    assert "Commande" in text


def test_the_group_page_names_permissions_in_french(admin_client):
    group = Group.objects.get(name=EDITOR)

    text = page_text(admin_client.get(reverse("admin:auth_group_change", args=[group.pk])))

    assert "Peut ajouter : clé API partenaire" in text
    assert "Can add" not in text and "Can view" not in text


def test_the_export_page_labels_fields_by_their_verbose_names(admin_client):
    text = page_text(admin_client.get(reverse("admin:routing_order_export")))

    assert "Created At" not in text and "Select all" not in text
    assert "Tout sélectionner" in text


def test_a_verification_report_page_says_its_anomalies_and_statuses_in_words(admin_client):
    report = VerificationReport.objects.create(
        window_start="2026-01-01T00:00Z",
        window_end="2026-01-02T00:00Z",
        counts={"success": {"zr7": 3}},
        anomalies={"success_without_attempt": 2},
    )

    url = reverse("admin:routing_verificationreport_change", args=[report.pk])
    text = page_text(admin_client.get(url))

    assert "success_without_attempt" not in text
    assert "leads livrés sans envoi réussi : 2" in text
    assert "livré — zr7 : 3" in text


def test_a_lead_page_says_utm_fields_and_reasons_in_french(admin_client):
    lead = LeadFactory(status="invalid_phone", reasons=["PHONE_INVALID"], phone_raw="0000")

    text = page_text(admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk])))

    assert "Utm_source" not in text and "PHONE_INVALID" not in text
    assert "Source UTM" in text and "Campagne UTM" in text
    assert "Téléphone invalide" in text
