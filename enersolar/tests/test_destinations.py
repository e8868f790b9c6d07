"""Where leads go is an Admin decision: a CRM's URL, every buyer key and a
form's CRM override are read-only for Editors (masked for everyone), and an
Admin's change is journaled with old → new and mailed to the admins."""

import pytest
from django.contrib.auth.models import Group

from enersolar.destinations import DESTINATION_PERMISSION
from enersolar.models import CRM, AccountRouting, ActivityLog, mask_secret
from enersolar.roles import ADMIN, EDITOR, VIEWER
from enersolar.tests.admin_forms import change_form_data
from enersolar.tests.factories import AccountRoutingFactory, CRMFactory, UserFactory
from routing.tests.factories import OrderFactory
from tracking.models import Form
from tracking.tests.factories import FormFactory

pytestmark = pytest.mark.django_db

ROUTING_KEY = "zr7-routing-secret-7f3a9c1e"
ORDER_KEY = "mdl-order-secret-0b8e4d6a"
OVERRIDE_KEY = "override-secret-93c1a7e5"
EVIL_URL = "https://evil.example/capture"


@pytest.fixture
def routing():
    return AccountRoutingFactory(api_key=ROUTING_KEY)


@pytest.fixture
def order():
    return OrderFactory(api_key=ORDER_KEY)


@pytest.fixture
def override_form():
    return FormFactory(crm_override=CRMFactory(), crm_override_api_key=OVERRIDE_KEY)


def login(client, role):
    client.force_login(UserFactory(role=role, email=f"{role.lower()}@example.com"))
    return client


def account_url(routing):
    return f"/admin/enersolar/account/{routing.account_id}/change/"


# --- The permission -------------------------------------------------------------------


def test_only_the_admin_role_holds_the_destinations_permission():
    holders = set(
        Group.objects.filter(
            permissions__codename="manage_destinations",
            permissions__content_type__app_label="enersolar",
        ).values_list("name", flat=True)
    )
    assert holders == {ADMIN}
    assert UserFactory(role=ADMIN).has_perm(DESTINATION_PERMISSION)
    assert not UserFactory(role=EDITOR).has_perm(DESTINATION_PERMISSION)


# --- Never in clear -------------------------------------------------------------------


@pytest.mark.parametrize("role", [VIEWER, EDITOR, ADMIN])
def test_no_role_reads_the_routing_key_on_the_account_page(client, routing, role):
    html = login(client, role).get(account_url(routing)).content.decode()

    assert ROUTING_KEY not in html
    assert mask_secret(ROUTING_KEY) in html


@pytest.mark.parametrize("role", [VIEWER, EDITOR, ADMIN])
def test_no_role_reads_the_order_key(client, order, role):
    login(client, role)
    change = client.get(f"/admin/routing/order/{order.pk}/change/").content.decode()
    changelist = client.get("/admin/routing/order/").content.decode()

    assert ORDER_KEY not in change + changelist
    assert mask_secret(ORDER_KEY) in change
    assert mask_secret(ORDER_KEY) in changelist


@pytest.mark.parametrize("role", [VIEWER, EDITOR, ADMIN])
def test_no_role_reads_the_form_override_key(client, override_form, role):
    html = login(client, role).get(f"/admin/tracking/form/{override_form.pk}/change/")
    html = html.content.decode()

    assert OVERRIDE_KEY not in html
    assert mask_secret(OVERRIDE_KEY) in html


# --- Editors: read-only ---------------------------------------------------------------


def test_editor_sees_the_crm_url_read_only_and_cannot_post_a_new_one(client):
    crm = CRMFactory(api_url="https://zr7.example.com/lead/")
    url = f"/admin/enersolar/crm/{crm.pk}/change/"
    page = login(client, EDITOR).get(url)
    assert 'name="api_url"' not in page.content.decode()
    assert "https://zr7.example.com/lead/" in page.content.decode()
    data = change_form_data(page, "crm")
    data["api_url"] = [EVIL_URL]
    data["name"] = ["Renamed"]

    response = client.post(url, data)

    assert response.status_code == 302
    crm.refresh_from_db()
    assert crm.name == "Renamed"
    assert crm.api_url == "https://zr7.example.com/lead/"
    assert not ActivityLog.objects.filter(action=ActivityLog.Action.DESTINATION).exists()


def test_editor_cannot_add_a_crm(client):
    login(client, EDITOR)

    assert client.get("/admin/enersolar/crm/add/").status_code == 403
    response = client.post(
        "/admin/enersolar/crm/add/", {"name": "Evil", "slug": "evil", "api_url": EVIL_URL}
    )
    assert response.status_code == 403
    assert not CRM.objects.filter(slug="evil").exists()


def test_editor_cannot_replace_a_routing_key(client, routing):
    page = login(client, EDITOR).get(account_url(routing))
    assert 'name="routings-0-api_key"' not in page.content.decode()
    data = change_form_data(page, "account")
    data["routings-0-api_key"] = ["editor-own-key-1234"]
    data["legal_notice"] = ["Nouveau texte."]

    assert client.post(account_url(routing), data).status_code == 302

    routing.refresh_from_db()
    assert routing.api_key == ROUTING_KEY
    assert routing.account.legal_notice == "Nouveau texte."


def test_editor_cannot_replace_an_order_key(client, order):
    url = f"/admin/routing/order/{order.pk}/change/"
    page = login(client, EDITOR).get(url)
    assert 'name="api_key"' not in page.content.decode()
    data = change_form_data(page, "order")
    data["api_key"] = ["editor-own-key-1234"]
    data["unit_price"] = ["31.00"]

    assert client.post(url, data).status_code == 302

    order.refresh_from_db()
    assert order.api_key == ORDER_KEY
    assert str(order.unit_price) == "31.00"


def test_editor_sees_the_form_override_read_only(client, override_form):
    url = f"/admin/tracking/form/{override_form.pk}/change/"
    page = login(client, EDITOR).get(url)
    html = page.content.decode()
    assert 'name="crm_override"' not in html
    assert "/replace-key/" not in html
    data = change_form_data(page, "form")
    data["crm_override"] = [str(CRMFactory().pk)]
    data["name"] = ["Renamed"]

    assert client.post(url, data).status_code == 302

    crm_before = override_form.crm_override_id
    override_form.refresh_from_db()
    assert override_form.name == "Renamed"
    assert override_form.crm_override_id == crm_before


def test_editor_cannot_use_the_replace_key_page(client, override_form):
    login(client, EDITOR)

    response = client.post(
        f"/admin/tracking/form/{override_form.pk}/replace-key/", {"api_key": "editor-5555"}
    )

    assert response.status_code == 302
    override_form.refresh_from_db()
    assert override_form.crm_override_api_key == OVERRIDE_KEY


# --- Admins: journaled old → new and mailed ---------------------------------------------


def destination_entry():
    return ActivityLog.objects.get(action=ActivityLog.Action.DESTINATION)


def test_admin_change_of_a_crm_url_is_journaled_and_mailed(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    crm = CRMFactory(name="MDL", api_url="https://mdl.example.com/lead/")
    url = f"/admin/enersolar/crm/{crm.pk}/change/"
    login(client, ADMIN)
    data = change_form_data(client.get(url), "crm")
    data["api_url"] = ["https://mdl2.example.com/lead/"]

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, data).status_code == 302

    entry = destination_entry()
    assert entry.object_type == "enersolar.crm"
    assert entry.details == {
        "changes": [
            {
                "field": "api_url",
                "old": "https://mdl.example.com/lead/",
                "new": "https://mdl2.example.com/lead/",
            }
        ]
    }
    (mail,) = mailoutbox
    assert f"{ADMIN.lower()}@example.com" in mail.to
    assert "https://mdl.example.com/lead/ → https://mdl2.example.com/lead/" in mail.body
    assert "MDL" in mail.subject


def test_admin_change_of_a_routing_key_is_journaled_masked_and_mailed(
    client, routing, mailoutbox, django_capture_on_commit_callbacks
):
    login(client, ADMIN)
    data = change_form_data(client.get(account_url(routing)), "account")
    data["routings-0-api_key"] = ["zr7-brand-new-key-9999"]

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(account_url(routing), data).status_code == 302

    routing.refresh_from_db()
    assert routing.api_key == "zr7-brand-new-key-9999"
    entry = destination_entry()
    assert entry.object_type == "enersolar.accountrouting"
    assert entry.details == {
        "changes": [{"field": "api_key", "old": mask_secret(ROUTING_KEY), "new": "••••9999"}]
    }
    (mail,) = mailoutbox
    assert f"{mask_secret(ROUTING_KEY)} → ••••9999" in mail.body
    everything = str(list(ActivityLog.objects.values())) + mail.body + mail.subject
    assert ROUTING_KEY not in everything
    assert "zr7-brand-new-key-9999" not in everything


def test_admin_removing_a_routing_row_is_journaled(client, routing):
    login(client, ADMIN)
    data = change_form_data(client.get(account_url(routing)), "account")
    data["routings-0-DELETE"] = ["on"]

    assert client.post(account_url(routing), data).status_code == 302

    assert not AccountRouting.objects.exists()
    entry = destination_entry()
    assert entry.object_id == str(routing.pk)
    assert {"field": "api_key", "old": mask_secret(ROUTING_KEY), "new": ""} in entry.details[
        "changes"
    ]


def test_admin_change_of_an_order_key_is_journaled(client, order):
    url = f"/admin/routing/order/{order.pk}/change/"
    login(client, ADMIN)
    data = change_form_data(client.get(url), "order")
    data["api_key"] = ["mdl-next-order-key-7777"]

    assert client.post(url, data).status_code == 302

    assert destination_entry().details == {
        "changes": [{"field": "api_key", "old": mask_secret(ORDER_KEY), "new": "••••7777"}]
    }


def test_admin_setting_a_form_override_is_journaled(client, mailoutbox):
    form = FormFactory()
    target = CRMFactory(name="Override CRM")
    url = f"/admin/tracking/form/{form.pk}/change/"
    login(client, ADMIN)
    data = change_form_data(client.get(url), "form")
    data["crm_override"] = [str(target.pk)]
    data["crm_override_api_key"] = ["override-first-key-4242"]

    assert client.post(url, data).status_code == 302

    form = Form.objects.get(pk=form.pk)
    assert form.crm_override == target
    assert destination_entry().details == {
        "changes": [
            {"field": "crm_override", "old": "", "new": "Override CRM"},
            {"field": "crm_override_api_key", "old": "", "new": "••••4242"},
        ]
    }


def test_admin_save_without_destination_change_journals_none(client, routing):
    login(client, ADMIN)
    data = change_form_data(client.get(account_url(routing)), "account")
    data["legal_notice"] = ["Autre texte."]

    assert client.post(account_url(routing), data).status_code == 302

    assert not ActivityLog.objects.filter(action=ActivityLog.Action.DESTINATION).exists()
