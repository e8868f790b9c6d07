"""The lead back office as the whole admin chain builds it (leads → routing →
billing → legacy): the rejected-leads entry with its reasons in words, the
origin-CRM filter, the export of the filtered list, what must stay true
of the list at millions of rows, its CRM columns and its department filter."""

import csv
import html
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from enersolar.roles import VIEWER
from enersolar.tests.factories import CRMFactory, UserFactory
from leads.models import Lead, RejectedLead
from leads.tests.factories import LeadFactory
from routing.tests.factories import DeliveryFactory
from tracking.tests.factories import FormFactory

pytestmark = pytest.mark.django_db

REJECTED = reverse("admin:leads_rejectedlead_changelist")
LEADS = reverse("admin:leads_lead_changelist")


def streamed_text(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


@pytest.fixture
def leads():
    original = LeadFactory(phone="0612345678")
    return {
        "valid": LeadFactory(),
        "held": LeadFactory(status=Lead.Status.PENDING_NO_ORDER),
        "orphan": LeadFactory(
            form=None, form_code="PV-999", status=Lead.Status.ORPHAN, reasons=["FORM_NOT_FOUND"]
        ),
        "bad_phone": LeadFactory(
            phone="",
            phone_raw="0123456789",
            status=Lead.Status.INVALID_PHONE,
            reasons=["PHONE_INVALID", "MISSING_REQUIRED:nom"],
        ),
        "missing": LeadFactory(
            status=Lead.Status.MISSING_REQUIRED, reasons=["MISSING_REQUIRED:nom,departement"]
        ),
        "double": LeadFactory(status=Lead.Status.DOUBLE_SUBMIT, reasons=["DOUBLE_SUBMIT_BLOCKED"]),
        "duplicate": LeadFactory(
            phone="0612345678",
            status=Lead.Status.DUPLICATE_INTERNAL,
            reasons=[f"DUPLICATE:{original.pk}"],
        ),
        "original": original,
    }


def viewer(client):
    client.force_login(UserFactory(role=VIEWER))
    return client


def shown_ids(page: str) -> set[str]:
    """The leads of a list page: each row's first cell links to its lead's page."""
    row_link = r'<th class="field-created_at[^"]*"><a href="/admin/leads/(?:rejected)?lead/'
    row_link += r"([0-9a-f-]{36})/"
    return set(re.findall(row_link, page))


def test_rejected_leads_have_their_own_entry_in_the_leads_section(client, leads):
    page = html.unescape(
        viewer(client).get(reverse("admin:app_list", args=["leads"])).content.decode()
    )
    assert REJECTED in page
    assert "Leads rejetés" in page


def test_the_rejected_list_shows_only_leads_refused_at_intake_with_why(client, leads):
    response = viewer(client).get(REJECTED)

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    rejected = {"orphan", "bad_phone", "missing", "double", "duplicate"}
    assert shown_ids(page) == {str(leads[name].pk) for name in rejected}
    assert "Formulaire introuvable (envoyé : « PV-999 »)" in page
    assert "Téléphone invalide (envoyé : « 0123456789 »)" in page
    assert "Manquant ou invalide : nom, departement" in page
    assert "Envoyé deux fois en quelques secondes" in page
    original_url = reverse("admin:leads_lead_change", args=[leads["original"].pk])
    assert f'Doublon d’<a href="{original_url}">un lead antérieur</a>' in page


@pytest.mark.parametrize("detail", ["", "5f1e2d3c4b5a697887766554"])  # none; a Mongo id
def test_a_duplicate_reason_without_a_lead_id_of_ours_is_shown_unlinked(client, detail):
    lead = LeadFactory(status=Lead.Status.DUPLICATE_INTERNAL, reasons=[f"DUPLICATE:{detail}"])

    response = viewer(client).get(REJECTED)

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert shown_ids(page) == {str(lead.pk)}
    assert "Doublon d’un lead antérieur" in page


def test_the_status_filter_offers_only_rejection_statuses(client, leads):
    client = viewer(client)
    page = client.get(REJECTED, {"status": "double_submit"}).content.decode()
    assert shown_ids(page) == {str(leads["double"].pk)}
    assert "?status=success" not in page and "?status=invalid_phone" in page


def test_a_rejected_lead_page_says_why(client, leads):
    url = reverse("admin:leads_rejectedlead_change", args=[leads["bad_phone"].pk])
    page = html.unescape(viewer(client).get(url).content.decode())
    assert "Téléphone invalide (envoyé : « 0123456789 »)" in page
    assert "Manquant ou invalide : nom" in page


def test_a_valid_lead_is_not_reachable_as_a_rejected_one(client, leads):
    url = reverse("admin:leads_rejectedlead_change", args=[leads["valid"].pk])
    assert viewer(client).get(url).status_code == 302  # "does not exist", back to the list
    assert RejectedLead.objects.filter(pk=leads["valid"].pk).count() == 0


def test_rejected_leads_are_read_only_even_for_a_superuser(admin_client, leads):
    url = reverse("admin:leads_rejectedlead_change", args=[leads["orphan"].pk])
    page = admin_client.get(url).content.decode()
    assert 'name="_save"' not in page
    assert admin_client.post(url, {"nom": "x"}).status_code == 403


def test_export_of_the_filtered_rejected_list(admin_client, leads):
    response = admin_client.post(
        reverse("admin:leads_rejectedlead_export") + "?status=invalid_phone",
        {
            "format": "0",
            "resource": "0",
            "leadexportresource_id": "on",
            "leadexportresource_status": "on",
            "leadexportresource_phone_raw": "on",
            "leadexportresource_reasons": "on",
        },
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(streamed_text(response))))
    assert [(r["id"], r["status"], r["phone_raw"]) for r in rows] == [
        (str(leads["bad_phone"].pk), "invalid_phone", "0123456789")
    ]


def test_export_of_the_filtered_lead_list_follows_the_filters(admin_client, leads):
    changelist = admin_client.get(LEADS, {"status__exact": "pending_no_order"}).content.decode()
    export_url = reverse("admin:leads_lead_export") + "?status__exact=pending_no_order"
    assert html.unescape(changelist).count(export_url) == 1

    response = admin_client.post(
        export_url,
        {"format": "0", "resource": "0", "leadexportresource_id": "on"},
    )

    rows = list(csv.DictReader(io.StringIO(streamed_text(response))))
    assert [r["id"] for r in rows] == [str(leads["held"].pk)]


def test_origin_crm_filter_on_the_lead_list(client):
    mdl = CRMFactory(slug="mdl", name="Maison du Lead")
    theirs = LeadFactory(form=FormFactory(landing_page__account__origin_crm=mdl))
    rejected_theirs = LeadFactory(
        form=FormFactory(landing_page__account__origin_crm=mdl), status=Lead.Status.ORPHAN
    )
    LeadFactory()  # another CRM's traffic
    client = viewer(client)

    page = client.get(LEADS, {"origin_crm": "mdl"}).content.decode()
    rejected_page = client.get(REJECTED, {"origin_crm": "mdl"}).content.decode()

    assert shown_ids(page) == {str(theirs.pk), str(rejected_theirs.pk)}
    assert shown_ids(rejected_page) == {str(rejected_theirs.pk)}


@pytest.mark.parametrize(
    "url, params",
    [(LEADS, {"status__exact": "double_submit"}), (REJECTED, {"status": "double_submit"})],
)
def test_the_lead_lists_never_count_the_whole_table(client, leads, url, params):
    client = viewer(client)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url, params)

    assert page.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    # The filtered list's own count only: no "N total" over every lead.
    assert len(counts) == 1 and "double_submit" in counts[0], counts


def test_the_lead_list_offers_relancer_return_and_export_to_an_admin(admin_client, leads):
    page = admin_client.get(LEADS).content.decode()
    for action in ("retry", "return_leads", "export_admin_action", "erase_person"):
        assert f'value="{action}"' in page, action


def test_the_lead_page_shows_the_delivery_attempts_panel(client, leads):
    url = reverse("admin:leads_lead_change", args=[leads["valid"].pk])
    page = html.unescape(viewer(client).get(url).content.decode())
    assert "Routage et tentatives" in page


# --- Target-CRM and origin-CRM columns; the department filter (issue 15 §4) -------------------


def test_the_lead_list_shows_origin_and_target_crm_in_one_query_per_row_set(
    client, django_assert_max_num_queries
):
    zr7 = CRMFactory(slug="zr7", name="ZR7 Digital")
    mdl = CRMFactory(slug="mdl", name="Maison du Lead")
    form = FormFactory(landing_page__account__origin_crm=zr7)
    cross = DeliveryFactory(lead=LeadFactory(form=form), crm=mdl).lead
    held = LeadFactory(form=form, status=Lead.Status.PENDING_NO_ORDER)
    client = viewer(client)
    client.get(LEADS)  # the session and the user's permissions, cached

    with django_assert_max_num_queries(12) as one_each:
        page = client.get(LEADS).content.decode()

    assert row_cells(page, cross.pk)["origin_crm"] == "ZR7 Digital"
    assert row_cells(page, cross.pk)["target_crm"] == "Maison du Lead"
    assert row_cells(page, held.pk)["target_crm"] == "-"  # not routed
    assert "CRM d'origine" in html.unescape(page) and "CRM cible" in page
    for _n in range(5):
        DeliveryFactory(lead=LeadFactory(form=form), crm=zr7)
    with django_assert_max_num_queries(len(one_each)):
        assert len(shown_ids(client.get(LEADS).content.decode())) == 7


def row_cells(page: str, lead_id) -> dict[str, str]:
    """The cells of a lead's row, by column (`field-<name>` classes)."""
    row = re.search(rf"<tr>(?:(?!</tr>).)*/{lead_id}/(?:(?!</tr>).)*</tr>", page, re.S).group(0)
    cells = re.findall(r'<t[dh] class="field-(\w+)[^"]*">(.*?)</t[dh]>', row, re.S)
    return {name: html.unescape(re.sub(r"<[^>]+>", "", value)).strip() for name, value in cells}


@pytest.mark.parametrize("url", [LEADS, REJECTED])
def test_the_department_filter_is_a_search_box_over_a_short_list(client, url):
    rhone = LeadFactory(departement="69", status=Lead.Status.ORPHAN, form=None)
    LeadFactory(departement="13", status=Lead.Status.ORPHAN, form=None)
    client = viewer(client)

    page = html.unescape(client.get(url).content.decode())
    filtered = html.unescape(client.get(url, {"departement": "69"}).content.decode())

    assert 'class="rdz-searchable-filter-search"' in page
    assert '<option value="?departement=69">69 Rhône</option>' in page
    assert 'href="?departement=69"' not in page  # no longer a wall of links
    assert shown_ids(filtered) == {str(rhone.pk)}
    assert '<option value="?departement=69" selected>69 Rhône</option>' in filtered
