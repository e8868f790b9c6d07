"""The admin's menu (issue 15 §4): sections ordered by daily use, the technical
models under one "Système" entry, the billing page in the menu, and for each
role exactly the models the permission matrix lets it view, no more."""

import html
import re

import pytest
from django.contrib import admin
from django.urls import reverse

from backoffice.menu import MENU, SYSTEM, menu_build
from enersolar.roles import ADMIN, EDITOR, VIEWER
from enersolar.tests.factories import UserFactory
from tests.test_permission_matrix import MODELS

pytestmark = pytest.mark.django_db

DAILY = [
    "Tableau de bord",
    "Leads",
    "Leads rejetés",
    "Formulaires",
    "Commandes",
    "Facturation",
    "Files d'attente",
    "Rapports",
]
TECHNICAL = {  # what the issue names "technical sections"
    "axes_accessattempt",
    "axes_accesslog",
    "axes_accessfailurelog",
    "authtoken_tokenproxy",
    "demo_sandboxbuyer",
    "demo_sandboxreceipt",
    "legacy_legacyrecord",
    "legacy_importbatch",
    "legacy_minianalysis",
    "auth_user",
    "auth_group",
}
BILLING_PAGE = reverse("admin:billing_overview")
LEADS = reverse("admin:leads_lead_changelist")


def menu_of(client) -> list[dict]:
    return client.get(reverse("admin:index")).context["app_list"]


def section_names(menu) -> list[str]:
    return [str(section["name"]) for section in menu]


def model_keys(section) -> set[str]:
    """The model entries of a section as the permission matrix names them."""
    keys = set()
    for entry in section["models"]:
        url = entry["admin_url"]
        match = re.fullmatch(r"/admin/(\w+)/(\w+)/", url)
        if match:
            keys.add("_".join(match.groups()))
    return keys


def client_of(client, *, role=None, superuser=False):
    client.force_login(UserFactory(role=role, is_superuser=superuser))
    return client


def test_the_superuser_menu_is_ordered_by_use_with_one_system_entry(client):
    menu = menu_of(client_of(client, superuser=True))

    assert section_names(menu) == [*DAILY, "Système"]
    system = menu[-1]
    assert model_keys(system) >= TECHNICAL
    for section in menu[:-1]:
        assert not (model_keys(section) & TECHNICAL), section["name"]
    assert model_keys(menu[1]) == {"leads_lead"}
    assert model_keys(menu[2]) == {"leads_rejectedlead"}


def test_every_registered_model_is_in_the_menu_once(client):
    menu = menu_of(client_of(client, superuser=True))

    listed = [key for section in menu for key in model_keys(section)]
    registered = {f"{m._meta.app_label}_{m._meta.model_name}" for m in admin.site._registry}
    assert sorted(listed) == sorted(registered)


@pytest.mark.parametrize("role, letter", [(VIEWER, "v"), (EDITOR, "e"), (ADMIN, "a")])
def test_a_role_sees_in_the_menu_exactly_what_it_may_view(client, role, letter):
    client = client_of(client, role=role)
    menu = menu_of(client)

    listed = {key for section in menu for key in model_keys(section)}
    assert listed == {key for key, (view, *_rest) in MODELS.items() if letter in view}
    expected = [name for name in DAILY if name != "Facturation" or role == ADMIN]
    assert section_names(menu) == [*expected, "Système"]
    for section in menu:  # every link of the menu opens
        for entry in section["models"]:
            assert client.get(entry["admin_url"]).status_code == 200, entry["admin_url"]


def test_a_viewer_is_offered_no_add_link_and_an_editor_only_where_it_may_add(client):
    viewer_menu = menu_of(client_of(client, role=VIEWER))
    editor_menu = menu_of(client_of(client, role=EDITOR))

    assert [e for s in viewer_menu for e in s["models"] if e["add_url"]] == []
    editor_adds = {
        key
        for section in editor_menu
        for entry in section["models"]
        if entry["add_url"]
        for key in model_keys({"models": [entry]})
    }
    assert editor_adds == {key for key, (_v, add, *_rest) in MODELS.items() if "e" in add}


def test_the_billing_page_is_in_the_menu_of_those_who_may_open_it(client):
    admin_menu = menu_of(client_of(client, role=ADMIN))
    billing = next(s for s in admin_menu if str(s["name"]) == "Facturation")
    first = billing["models"][0]
    assert (str(first["name"]), first["admin_url"]) == ("Facturation inter-CRM", BILLING_PAGE)
    assert client.get(BILLING_PAGE).status_code == 200

    client.logout()
    page = client_of(client, role=EDITOR).get(LEADS).content.decode()
    assert BILLING_PAGE not in page


def test_the_sidebar_lists_the_sections_in_order_and_marks_only_the_current_page(admin_client):
    page = html.unescape(admin_client.get(LEADS).content.decode())
    sidebar = page[page.index('id="nav-sidebar"') : page.index("</nav>", page.index("nav-sidebar"))]

    captions = re.findall(r'class="section"[^>]*>([^<]+)</a>', sidebar)
    assert captions == [*DAILY, "Système"]
    assert f'<a href="{BILLING_PAGE}"' in sidebar
    # The dashboard's link is the index: never marked current on another page.
    assert re.findall(r'<a href="([^"]+)" aria-current="page"', sidebar) == [LEADS]
    assert sidebar.count("current-app") == 1


def test_a_model_no_section_names_lands_in_system():
    staff_without_permissions = UserFactory()
    app_list = [
        {
            "app_label": "newapp",
            "models": [{"object_name": "Thing", "admin_url": "/admin/newapp/thing/"}],
        }
    ]

    menu = menu_build(app_list, staff_without_permissions, "admin")

    assert [s["app_label"] for s in menu] == ["menu-dashboard", f"menu-{SYSTEM}"]
    assert menu[-1]["models"] == app_list[0]["models"]


def test_the_menu_sections_name_each_model_once():
    named = [entry for section in MENU for entry in section.entries if isinstance(entry, str)]
    assert len(named) == len(set(named))
