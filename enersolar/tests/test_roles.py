"""Staff roles (SPEC §1): Admin (everything), Editor (configuration and
leads, no users / billing / partner keys), Viewer (read only); the admin is in
French by default."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal

from enersolar.models import Account
from enersolar.roles import ADMIN, EDITOR, VIEWER, roles_sync
from enersolar.tests.admin_forms import change_form_data
from enersolar.tests.factories import AccountFactory, UserFactory
from routing.tests.factories import OrderFactory
from tracking.models import Form
from tracking.tests.factories import FormFactory

pytestmark = pytest.mark.django_db


def perms_of(group_name: str) -> set[str]:
    return {
        f"{app}.{codename}"
        for app, codename in Group.objects.get(name=group_name).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


@pytest.fixture
def viewer_client(client):
    client.force_login(UserFactory(username="viewer", role=VIEWER))
    return client


@pytest.fixture
def editor_client(client):
    client.force_login(UserFactory(username="editor", role=EDITOR))
    return client


@pytest.fixture
def objects(db):
    """One account, form and order, with the admin URLs of each."""
    form = FormFactory()
    order = OrderFactory()
    return {
        "account": (form.account, "/admin/enersolar/account/"),
        "form": (form, "/admin/tracking/form/"),
        "order": (order, "/admin/routing/order/"),
    }


# --- The groups ----------------------------------------------------------------------


def test_the_three_groups_exist_after_migrations():
    assert set(Group.objects.values_list("name", flat=True)) >= {ADMIN, EDITOR, VIEWER}


def test_admin_group_has_every_permission():
    assert Group.objects.get(name=ADMIN).permissions.count() == Permission.objects.count()


def test_viewer_group_has_only_view_permissions():
    viewer = perms_of(VIEWER)
    assert viewer
    assert all(perm.split(".")[1].startswith("view_") for perm in viewer)
    assert {"enersolar.view_account", "tracking.view_form", "routing.view_order"} <= viewer


def test_editor_group_changes_configuration_but_not_users_keys_or_the_journal():
    editor = perms_of(EDITOR)
    assert {
        "enersolar.change_account",
        "enersolar.add_crm",
        "tracking.change_form",
        "tracking.add_landingpage",
        "routing.change_order",
        "routing.delete_order",
    } <= editor
    assert not {p for p in editor if p.startswith("auth.")}
    assert not {p for p in editor if p.endswith("_apikey") or p.endswith("_codesequence")}
    assert "enersolar.view_activitylog" in editor
    assert not {"enersolar.change_activitylog", "enersolar.delete_activitylog"} & editor


def test_models_added_later_land_in_the_right_roles():
    # Permissions of models that do not exist yet must follow the rules as soon
    # as they appear (roles are re-synced after every migrate).
    for app_label, model in [("billing", "futurestatement"), ("leads", "futurelead")]:
        content_type = ContentType.objects.create(app_label=app_label, model=model)
        for action in ["add", "change", "delete", "view"]:
            Permission.objects.create(
                content_type=content_type, codename=f"{action}_{model}", name=action
            )

    roles_sync()

    assert {"billing.change_futurestatement", "billing.view_futurestatement"} <= perms_of(ADMIN)
    assert not {p for p in perms_of(EDITOR) if p.startswith("billing.")}
    assert not {p for p in perms_of(VIEWER) if p.startswith("billing.")}
    assert {"leads.change_futurelead", "leads.view_futurelead"} <= perms_of(EDITOR)
    assert "leads.view_futurelead" in perms_of(VIEWER)
    assert "leads.change_futurelead" not in perms_of(VIEWER)


def test_roles_are_rebuilt_by_the_post_migrate_signal_of_a_flush():
    # `manage.py flush` (and every transactional test's teardown) sends
    # post_migrate this way, without an app registry.
    Group.objects.all().delete()

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

    assert set(Group.objects.values_list("name", flat=True)) >= {ADMIN, EDITOR, VIEWER}
    assert Group.objects.get(name=ADMIN).permissions.count() == Permission.objects.count()
    assert "tracking.change_form" in perms_of(EDITOR)


def test_passwords_are_stored_with_a_salted_hasher(settings):
    # The suite uses a fast hasher (conftest.py); this test checks the real one.
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    first = UserFactory(password="même-mot-de-passe-42")
    second = UserFactory(password="même-mot-de-passe-42")

    assert first.check_password("même-mot-de-passe-42")
    assert first.password.startswith(("pbkdf2_sha256$", "argon2$", "scrypt$", "bcrypt"))
    assert first.password != second.password  # a different salt each time
    assert "même-mot-de-passe-42" not in first.password


# --- Viewer -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["account", "form", "order"])
def test_viewer_sees_the_changelist(viewer_client, objects, name):
    obj, url = objects[name]

    response = viewer_client.get(url)

    assert response.status_code == 200
    assert f"{url}{obj.pk}/change/" in response.content.decode()


@pytest.mark.parametrize("name", ["account", "form", "order"])
def test_viewer_sees_the_change_page_without_a_save_button(viewer_client, objects, name):
    obj, url = objects[name]

    response = viewer_client.get(f"{url}{obj.pk}/change/")

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()


@pytest.mark.parametrize("name", ["account", "form", "order"])
def test_viewer_cannot_post_a_change(viewer_client, admin_client, objects, name):
    obj, url = objects[name]
    # What an editor's page would post: a complete, valid form.
    data = change_form_data(admin_client.get(f"{url}{obj.pk}/change/"), obj._meta.model_name)
    data["name"] = ["Changed by a viewer"]

    response = viewer_client.post(f"{url}{obj.pk}/change/", data)

    assert response.status_code == 403
    obj.refresh_from_db()
    assert obj.name != "Changed by a viewer"


@pytest.mark.parametrize("name", ["account", "form", "order"])
def test_viewer_cannot_add(viewer_client, objects, name):
    obj, url = objects[name]
    model = type(obj)
    count = model.objects.count()

    assert viewer_client.get(f"{url}add/").status_code == 403
    assert viewer_client.post(f"{url}add/", {"name": "New"}).status_code == 403
    assert model.objects.count() == count


def test_viewer_cannot_delete(viewer_client, objects):
    form, url = objects["form"]

    response = viewer_client.post(f"{url}{form.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Form.objects.filter(pk=form.pk).exists()


# --- Editor -----------------------------------------------------------------------------


def test_editor_sees_the_save_button_and_can_change_a_form(editor_client, objects):
    form, url = objects["form"]
    page = editor_client.get(f"{url}{form.pk}/change/")
    assert 'name="_save"' in page.content.decode()
    data = change_form_data(page, "form")
    data["name"] = ["Renamed by the editor"]

    response = editor_client.post(f"{url}{form.pk}/change/", data)

    assert response.status_code == 302
    form.refresh_from_db()
    assert form.name == "Renamed by the editor"


def test_editor_can_add_an_account(editor_client, objects):
    crm = objects["order"][0].crm
    page = editor_client.get("/admin/enersolar/account/add/")
    data = change_form_data(page, "account")
    data.update({"name": ["Nouveau client"], "origin_crm": [str(crm.pk)]})

    response = editor_client.post("/admin/enersolar/account/add/", data)

    assert response.status_code == 302
    assert Account.objects.filter(name="Nouveau client").exists()


@pytest.mark.parametrize(
    "url", ["/admin/auth/user/", "/admin/auth/group/", "/admin/auth/user/add/"]
)
def test_editor_cannot_manage_users(editor_client, url):
    assert editor_client.get(url).status_code == 403


@pytest.mark.parametrize("url", ["/admin/enersolar/apikey/", "/admin/enersolar/apikey/add/"])
def test_editor_cannot_see_or_create_partner_api_keys(editor_client, url):
    assert editor_client.get(url).status_code == 403


def test_editor_index_lists_neither_users_nor_partner_keys(editor_client):
    html = editor_client.get("/admin/").content.decode()

    assert "/admin/tracking/form/" in html
    assert "/admin/auth/user/" not in html
    assert "/admin/enersolar/apikey/" not in html


def test_editor_cannot_create_a_partner_key_by_posting(editor_client):
    response = editor_client.post(
        "/admin/enersolar/apikey/add/", {"account": AccountFactory().pk, "name": "x"}
    )

    assert response.status_code == 403


# --- Language ---------------------------------------------------------------------------


def test_admin_is_in_french_by_default(admin_client):
    html = admin_client.get("/admin/").content.decode()

    assert '<html lang="fr"' in html
    assert "Déconnexion" in html


def test_login_page_is_in_french_by_default(client):
    html = client.get("/admin/login/").content.decode()

    assert '<html lang="fr"' in html
    assert "Connexion" in html


def test_admin_is_available_in_english(admin_client):
    html = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '<html lang="en"' in html
    assert "Log out" in html


def test_a_user_given_a_role_is_staff():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    User = get_user_model()
    editor = User.objects.create_user("claire", password="x" * 12)
    editor.groups.add(Group.objects.get(name=EDITOR))
    assert User.objects.get(pk=editor.pk).is_staff

    viewer = User.objects.create_user("paul", password="x" * 12)
    Group.objects.get(name=VIEWER).user_set.add(viewer)
    assert User.objects.get(pk=viewer.pk).is_staff

    other = User.objects.create_user("marc", password="x" * 12)
    other.groups.add(Group.objects.create(name="Newsletter"))
    assert not User.objects.get(pk=other.pk).is_staff
