"""The activity journal (SPEC §1): admin add/change/delete are recorded with
who, what and which object; the journal is browsable but read-only."""

import html
import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from enersolar.models import CRM, ActivityLog
from enersolar.roles import VIEWER
from enersolar.services import journal_record
from enersolar.tests.admin_forms import change_form_data
from enersolar.tests.factories import AccountFactory, CRMFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = UserFactory(username="alice", is_superuser=True)
    client.force_login(user)
    return user, client


def test_admin_add_of_a_crm_is_journaled(staff):
    user, client = staff
    data = change_form_data(client.get("/admin/enersolar/crm/add/"), "crm")
    data.update(
        {
            "name": ["Solaire Direct"],
            "slug": ["sd"],
            "api_url": ["https://crm.example.com/lead/api/create_lead/"],
        }
    )

    response = client.post("/admin/enersolar/crm/add/", data)

    assert response.status_code == 302
    crm = CRM.objects.get(slug="sd")
    entry = ActivityLog.objects.exclude(action=ActivityLog.Action.DESTINATION).get()
    assert entry.user == user
    assert entry.action == ActivityLog.Action.CREATE
    assert entry.object_type == "enersolar.crm"
    assert entry.object_id == str(crm.pk)
    assert entry.object_repr == "Solaire Direct"


def test_admin_change_of_a_crm_is_journaled_with_the_changed_fields(staff):
    user, client = staff
    crm = CRMFactory(name="ZR7 Digital", slug="zr7")
    url = f"/admin/enersolar/crm/{crm.pk}/change/"
    data = change_form_data(client.get(url), "crm")
    data["api_url"] = ["https://zr7.example.com/lead/api/create_lead/"]
    data.pop("is_active")  # an unchecked box is not posted

    response = client.post(url, data)

    assert response.status_code == 302
    entry = ActivityLog.objects.exclude(action=ActivityLog.Action.DESTINATION).get()
    assert entry.user == user
    assert entry.action == ActivityLog.Action.UPDATE
    assert entry.object_type == "enersolar.crm"
    assert entry.object_id == str(crm.pk)
    assert entry.object_repr == "ZR7 Digital"
    # The admin's change message keeps untranslated field labels.
    assert entry.details["changed"] == ["API URL", "Active"]


def test_admin_delete_of_a_crm_is_journaled(staff):
    user, client = staff
    crm = CRMFactory(name="Maison du Lead", slug="mdl")
    crm_pk = crm.pk

    response = client.post(f"/admin/enersolar/crm/{crm_pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not CRM.objects.filter(pk=crm_pk).exists()
    entry = ActivityLog.objects.get()
    assert entry.user == user
    assert entry.action == ActivityLog.Action.DELETE
    assert entry.object_type == "enersolar.crm"
    assert entry.object_id == str(crm_pk)
    assert entry.object_repr == "Maison du Lead"


def test_admin_bulk_delete_journals_every_crm(staff):
    user, client = staff
    crms = [CRMFactory(name=f"CRM bulk {n}") for n in range(3)]

    response = client.post(
        "/admin/enersolar/crm/",
        {"action": "delete_selected", "_selected_action": [c.pk for c in crms], "post": "yes"},
    )

    assert response.status_code == 302
    assert not CRM.objects.filter(pk__in=[c.pk for c in crms]).exists()
    entries = ActivityLog.objects.filter(action=ActivityLog.Action.DELETE)
    assert {(e.object_id, e.object_repr) for e in entries} == {(str(c.pk), c.name) for c in crms}
    assert {e.user for e in entries} == {user}


def test_a_refused_change_is_not_journaled(client):
    client.force_login(UserFactory(role="Viewer"))
    crm = CRMFactory()

    client.post(f"/admin/enersolar/crm/{crm.pk}/change/", {"name": "x"})

    assert not ActivityLog.objects.exists()


# --- The journal itself is read-only -------------------------------------------------


@pytest.fixture
def entry(db):
    return ActivityLog.objects.create(
        user=UserFactory(), action=ActivityLog.Action.OTHER, object_repr="something"
    )


def test_journal_is_browsable_in_the_admin(admin_client, entry):
    response = admin_client.get("/admin/enersolar/activitylog/")

    assert response.status_code == 200
    assert "something" in response.content.decode()


def test_journal_admin_grants_no_add_change_or_delete_even_to_a_superuser(admin_user):
    request = RequestFactory().get("/admin/enersolar/activitylog/")
    request.user = admin_user
    model_admin = admin.site._registry[ActivityLog]

    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_journal_add_page_is_forbidden_to_a_superuser(admin_client):
    assert admin_client.get("/admin/enersolar/activitylog/add/").status_code == 403
    assert (
        admin_client.post("/admin/enersolar/activitylog/add/", {"action": "other"}).status_code
        == 403
    )
    assert not ActivityLog.objects.exists()


def test_journal_entry_cannot_be_changed_in_the_admin(admin_client, entry):
    url = f"/admin/enersolar/activitylog/{entry.pk}/change/"

    page = admin_client.get(url)
    response = admin_client.post(url, {"object_repr": "rewritten", "action": "other"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.object_repr == "something"


def test_journal_entry_cannot_be_deleted_in_the_admin(admin_client, entry):
    url = f"/admin/enersolar/activitylog/{entry.pk}/delete/"

    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        "/admin/enersolar/activitylog/",
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )

    assert bulk.status_code in {200, 302}  # no such action: nothing done
    assert ActivityLog.objects.filter(pk=entry.pk).exists()


# --- Browsing the journal: filters, dates, search, links ----------------------------------------


@pytest.fixture
def journal(db):
    from datetime import UTC, datetime

    import time_machine

    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    account = AccountFactory(name="Soleil SAS")
    entries = {}
    with time_machine.travel(datetime(2026, 3, 5, 10, tzinfo=UTC), tick=False):
        entries["key"] = journal_record(
            user=alice,
            action=ActivityLog.Action.KEY_CREATE,
            obj=account,
            details={"started": 4, "finished": 1},
        )
    with time_machine.travel(datetime(2026, 4, 20, 10, tzinfo=UTC), tick=False):
        entries["crm"] = journal_record(
            user=bob, action=ActivityLog.Action.UPDATE, obj=CRMFactory(name="Maison du Lead")
        )
        entries["system"] = journal_record(
            user=None, action=ActivityLog.Action.VERIFICATION, details={"total": 3}
        )
    return {"alice": alice, "bob": bob, "account": account, **entries}


def journal_rows(client, **params) -> set[int]:
    response = client.get("/admin/enersolar/activitylog/", params)
    assert response.status_code == 200
    page = response.content.decode()
    return {int(pk) for pk in re.findall(r'href="/admin/enersolar/activitylog/(\d+)/change/', page)}


@pytest.fixture
def viewer_client(client):
    client.force_login(UserFactory(role=VIEWER))
    return client


def test_journal_filters_by_user_action_and_object_type(viewer_client, journal):
    by = {name: journal[name].pk for name in ("key", "crm", "system")}

    assert journal_rows(viewer_client) == set(by.values())
    assert journal_rows(viewer_client, user__id__exact=journal["alice"].pk) == {by["key"]}
    assert journal_rows(viewer_client, action__exact="verification") == {by["system"]}
    assert journal_rows(viewer_client, object_type="enersolar.crm") == {by["crm"]}


def test_journal_drills_down_by_date(viewer_client, journal):
    page = viewer_client.get("/admin/enersolar/activitylog/").content.decode()
    assert "created_at__year=2026" in page  # the date hierarchy's links

    assert journal_rows(viewer_client, created_at__year=2026, created_at__month=3) == {
        journal["key"].pk
    }
    assert journal_rows(
        viewer_client, created_at__year=2026, created_at__month=4, created_at__day=20
    ) == {journal["crm"].pk, journal["system"].pk}


def test_journal_search_by_user_object_and_exact_id(viewer_client, journal):
    assert journal_rows(viewer_client, q="bob") == {journal["crm"].pk}
    assert journal_rows(viewer_client, q="Maison") == {journal["crm"].pk}
    account_id = str(journal["account"].pk)
    same_id = set(ActivityLog.objects.filter(object_id=account_id).values_list("pk", flat=True))
    assert journal["key"].pk in same_id  # (a CRM may share the number: exact, not a prefix)
    assert journal_rows(viewer_client, q=account_id) == same_id


def test_journal_links_to_the_object_and_shows_the_details(viewer_client, journal):
    account_url = f"/admin/enersolar/account/{journal['account'].pk}/change/"
    assert account_url in viewer_client.get("/admin/enersolar/activitylog/").content.decode()

    page = viewer_client.get(
        f"/admin/enersolar/activitylog/{journal['key'].pk}/change/"
    ).content.decode()

    assert account_url in page
    assert '"started": 4' in html.unescape(page)
    assert 'name="_save"' not in page


def test_the_journal_never_counts_the_whole_table(viewer_client, journal):
    with CaptureQueriesContext(connection) as queries:
        page = viewer_client.get("/admin/enersolar/activitylog/", {"q": "bob"})

    assert page.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    # The searched list's own count only: no "N total" over the whole journal.
    assert len(counts) == 1 and "bob" in counts[0], counts
