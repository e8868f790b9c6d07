"""Secrets in the admin (SPEC §1): never shown in full after saving (last 4
chars only); an empty input keeps the saved value; the form CRM override key
is write-once and replaced only through its explicit, journaled action."""

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst

from enersolar.models import Account, AccountRouting, ActivityLog, mask_secret
from enersolar.tests.admin_forms import change_form_data
from enersolar.tests.factories import AccountRoutingFactory, CRMFactory, UserFactory
from routing.models import Order
from routing.tests.factories import OrderFactory
from tracking.models import Form
from tracking.tests.factories import FormFactory

ROUTING_KEY = "zr7-account-key-7f3a9c1e5b2d"
ORDER_KEY = "mdl-order-key-0b8e4d6a2c9f"
OVERRIDE_KEY = "override-key-93c1a7e5f2b4"


def label(model, field_name: str) -> str:
    """A field's label as the admin's change message names it (untranslated)."""
    with translation.override(None):
        return str(capfirst(model._meta.get_field(field_name).verbose_name))


def test_mask_secret_shows_only_the_last_four_characters():
    assert mask_secret("abcdefgh1234") == "••••1234"
    assert "abcdefgh" not in mask_secret("abcdefgh1234")


def test_mask_secret_of_nothing_is_empty():
    assert mask_secret("") == ""


def test_masked_properties_of_the_models_use_the_mask():
    routing = AccountRouting(api_key=ROUTING_KEY)
    order = Order(api_key=ORDER_KEY)
    form = Form(crm_override_api_key=OVERRIDE_KEY)
    assert routing.api_key_masked == "••••5b2d"
    assert order.api_key_masked == "••••2c9f"
    assert form.crm_override_api_key_masked == "••••f2b4"


# --- Account routing keys (inline on the account page) -------------------------------


@pytest.fixture
def routing(db):
    return AccountRoutingFactory(api_key=ROUTING_KEY)


def account_change_url(routing) -> str:
    return f"/admin/enersolar/account/{routing.account_id}/change/"


def test_account_change_page_shows_the_routing_key_masked_only(admin_client, routing):
    response = admin_client.get(account_change_url(routing))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="routings-0-api_key"' in html
    assert ROUTING_KEY not in html
    assert mask_secret(ROUTING_KEY) in html


def test_account_save_with_the_key_left_empty_keeps_the_key(admin_client, routing):
    page = admin_client.get(account_change_url(routing))
    data = change_form_data(page, "account")
    assert data["routings-0-api_key"] == [""]  # the page never sends the key back
    data["legal_notice"] = ["Mentions légales mises à jour."]

    response = admin_client.post(account_change_url(routing), data)

    assert response.status_code == 302
    routing.refresh_from_db()
    assert routing.api_key == ROUTING_KEY
    assert routing.account.legal_notice == "Mentions légales mises à jour."


def test_account_save_with_a_new_key_replaces_it(admin_client, routing):
    data = change_form_data(admin_client.get(account_change_url(routing)), "account")
    data["routings-0-api_key"] = ["zr7-new-key-11112222"]

    response = admin_client.post(account_change_url(routing), data)

    assert response.status_code == 302
    routing.refresh_from_db()
    assert routing.api_key == "zr7-new-key-11112222"


def test_account_save_without_touching_the_key_records_no_key_change(admin_client, routing):
    # The journal must not claim the key changed when the empty input kept it.
    data = change_form_data(admin_client.get(account_change_url(routing)), "account")
    data["legal_notice"] = ["Nouveau texte."]

    admin_client.post(account_change_url(routing), data)

    entry = ActivityLog.objects.get(action=ActivityLog.Action.UPDATE)
    assert entry.object_type == "enersolar.account"
    assert entry.details["changed"] == [label(Account, "legal_notice")]


def test_order_save_without_touching_the_key_records_no_key_change(admin_client, order):
    data = change_form_data(admin_client.get(order_change_url(order)), "order")
    data["unit_price"] = ["26.00"]

    admin_client.post(order_change_url(order), data)

    entry = ActivityLog.objects.get(action=ActivityLog.Action.UPDATE)
    assert entry.details["changed"] == [label(Order, "unit_price")]


def test_the_journal_never_holds_a_routing_key(admin_client, routing):
    data = change_form_data(admin_client.get(account_change_url(routing)), "account")
    data["routings-0-api_key"] = ["zr7-new-key-11112222"]
    admin_client.post(account_change_url(routing), data)

    entries = list(ActivityLog.objects.values_list("details", "object_repr"))
    assert entries
    assert "zr7-new-key-11112222" not in str(entries)
    assert ROUTING_KEY not in str(entries)


# --- Order keys ------------------------------------------------------------------------


@pytest.fixture
def order(db):
    return OrderFactory(api_key=ORDER_KEY)


def order_change_url(order) -> str:
    return f"/admin/routing/order/{order.pk}/change/"


def test_order_change_page_shows_the_key_masked_only(admin_client, order):
    response = admin_client.get(order_change_url(order))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="api_key"' in html
    assert ORDER_KEY not in html
    assert mask_secret(ORDER_KEY) in html


def test_order_changelist_shows_the_key_masked_only(admin_client, order):
    html = admin_client.get("/admin/routing/order/").content.decode()

    assert ORDER_KEY not in html
    assert mask_secret(ORDER_KEY) in html


def test_order_save_with_the_key_left_empty_keeps_the_key(admin_client, order):
    data = change_form_data(admin_client.get(order_change_url(order)), "order")
    assert data["api_key"] == [""]
    data["unit_price"] = ["31.50"]

    response = admin_client.post(order_change_url(order), data)

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.api_key == ORDER_KEY
    assert str(order.unit_price) == "31.50"


def test_order_save_with_a_new_key_replaces_it(admin_client, order):
    data = change_form_data(admin_client.get(order_change_url(order)), "order")
    data["api_key"] = ["mdl-new-order-key-3333"]

    response = admin_client.post(order_change_url(order), data)

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.api_key == "mdl-new-order-key-3333"


# --- Form CRM override key: write-once --------------------------------------------------


def form_change_url(form) -> str:
    return f"/admin/tracking/form/{form.pk}/change/"


@pytest.fixture
def locked_form(db):
    return FormFactory(crm_override=CRMFactory(), crm_override_api_key=OVERRIDE_KEY)


def test_override_key_can_be_set_once_through_the_change_form(admin_client, db):
    form = FormFactory()
    page = admin_client.get(form_change_url(form))
    assert 'name="crm_override_api_key"' in page.content.decode()
    data = change_form_data(page, "form")
    data["crm_override"] = [str(CRMFactory().pk)]
    data["crm_override_api_key"] = [OVERRIDE_KEY]

    response = admin_client.post(form_change_url(form), data)

    assert response.status_code == 302
    form.refresh_from_db()
    assert form.crm_override_api_key == OVERRIDE_KEY
    # From now on the page has no input for it any more.
    html = admin_client.get(form_change_url(form)).content.decode()
    assert 'name="crm_override_api_key"' not in html


def test_locked_override_key_is_shown_masked_and_read_only(admin_client, locked_form):
    response = admin_client.get(form_change_url(locked_form))

    html = response.content.decode()
    assert response.status_code == 200
    assert OVERRIDE_KEY not in html
    assert mask_secret(OVERRIDE_KEY) in html
    assert 'name="crm_override_api_key"' not in html
    assert reverse("admin:tracking_form_replace_key", args=[locked_form.pk]) in html


def test_posting_a_new_override_key_on_the_change_form_does_not_change_it(
    admin_client, locked_form
):
    data = change_form_data(admin_client.get(form_change_url(locked_form)), "form")
    data["crm_override_api_key"] = ["forged-replacement-key"]
    data["name"] = ["Renamed"]

    response = admin_client.post(form_change_url(locked_form), data)

    assert response.status_code == 302
    locked_form.refresh_from_db()
    assert locked_form.name == "Renamed"  # the save went through…
    assert locked_form.crm_override_api_key == OVERRIDE_KEY  # …without the key


def test_replace_key_page_shows_the_current_key_masked_only(admin_client, locked_form):
    url = reverse("admin:tracking_form_replace_key", args=[locked_form.pk])

    response = admin_client.get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assert OVERRIDE_KEY not in html
    assert mask_secret(OVERRIDE_KEY) in html


def test_replace_key_view_replaces_the_key_and_journals_it(client, locked_form):
    user = UserFactory(is_superuser=True)
    client.force_login(user)
    url = reverse("admin:tracking_form_replace_key", args=[locked_form.pk])

    response = client.post(url, {"api_key": "brand-new-override-key-4444"})

    assert response.status_code == 302
    assert response["Location"] == form_change_url(locked_form)
    locked_form.refresh_from_db()
    assert locked_form.crm_override_api_key == "brand-new-override-key-4444"
    entry = ActivityLog.objects.get(action=ActivityLog.Action.DESTINATION)
    assert entry.user == user
    assert entry.object_type == "tracking.form"
    assert entry.object_id == str(locked_form.pk)
    assert entry.details == {
        "changes": [{"field": "crm_override_api_key", "old": "••••f2b4", "new": "••••4444"}]
    }
    assert "brand-new-override-key" not in str(entry.details)


def test_replace_key_view_rejects_an_empty_key(admin_client, locked_form):
    url = reverse("admin:tracking_form_replace_key", args=[locked_form.pk])

    response = admin_client.post(url, {"api_key": ""})

    assert response.status_code == 200  # the form again, with its error
    locked_form.refresh_from_db()
    assert locked_form.crm_override_api_key == OVERRIDE_KEY
    assert not ActivityLog.objects.filter(action=ActivityLog.Action.DESTINATION).exists()


def test_replace_key_view_refuses_a_user_who_cannot_change_forms(client, locked_form):
    client.force_login(UserFactory(role="Viewer"))
    url = reverse("admin:tracking_form_replace_key", args=[locked_form.pk])

    response = client.post(url, {"api_key": "viewer-attempt-5555"})

    assert response.status_code == 302
    locked_form.refresh_from_db()
    assert locked_form.crm_override_api_key == OVERRIDE_KEY
    assert not ActivityLog.objects.filter(action=ActivityLog.Action.DESTINATION).exists()
