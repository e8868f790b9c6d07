"""The permission matrix: each role (anonymous, a partner's API key, Viewer,
Editor, Admin) × every admin page and action and every API route, with the
expected answer, from the tables below. The URL resolver is walked, so a new
admin page or API route fails the test until it has its line here; and every
answer (pages, exports, API bodies) is searched for the demo's buyer keys,
which nobody may read in clear.

Roles are written with their letters: v (Viewer), e (Editor), a (Admin; a
member of the Admin group, not a superuser)."""

import re
from dataclasses import dataclass

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.permission_routes import (
    Route,
    model_admins,
    one_object,
    project_routes,
    route_url,
)
from tests.permission_world import ROLES, world_build

# --- The table -----------------------------------------------------------------------

# Model admins: who may view, add, change (the page has "Save") and delete.
MODELS = {
    #                            view   add    change delete
    "auth_user": ("a", "a", "a", "a"),
    "auth_group": ("a", "a", "a", "a"),
    "authtoken_tokenproxy": ("a", "a", "a", "a"),
    "enersolar_crm": ("vea", "a", "ea", "ea"),  # a new CRM is a new destination
    "enersolar_account": ("vea", "ea", "ea", "ea"),
    "enersolar_producttype": ("vea", "ea", "ea", "ea"),
    "enersolar_department": ("vea", "", "", ""),
    "enersolar_qualitymapping": ("vea", "ea", "ea", "ea"),
    "enersolar_apikey": ("a", "a", "", "a"),
    "enersolar_activitylog": ("vea", "", "", ""),
    "tracking_landingpage": ("vea", "ea", "ea", "ea"),
    "tracking_form": ("vea", "ea", "ea", "ea"),
    "tracking_visitorsession": ("vea", "", "", ""),
    "tracking_trackingevent": ("vea", "", "", ""),
    "leads_lead": ("vea", "", "", ""),
    "leads_rejectedlead": ("vea", "", "", ""),
    "routing_order": ("vea", "ea", "ea", "ea"),
    "routing_defaultprice": ("vea", "ea", "ea", "ea"),
    "routing_delivery": ("vea", "", "", ""),
    "routing_crmhealth": ("vea", "", "", ""),
    "routing_verificationreport": ("vea", "", "", ""),
    "billing_statement": ("a", "", "", ""),
    "billing_budgettransaction": ("a", "a", "", ""),
    "billing_leadreturn": ("a", "", "", ""),
    "axes_accessattempt": ("a", "", "a", "a"),
    "axes_accesslog": ("a", "", "a", "a"),
    "axes_accessfailurelog": ("a", "", "a", "a"),
    "legacy_importbatch": ("a", "", "", ""),
    "legacy_legacyrecord": ("a", "", "", ""),
    "legacy_minianalysis": ("a", "", "", ""),
    "demo_sandboxbuyer": ("vea", "ea", "ea", "ea"),
    "demo_sandboxreceipt": ("vea", "", "", ""),
}

# Actions of each list: who is offered (and may run) each one.
EXPORT = "export_admin_action"
ACTIONS = {
    "auth_user": {"delete_selected": "a", EXPORT: "a"},
    "auth_group": {"delete_selected": "a", EXPORT: "a"},
    "authtoken_tokenproxy": {},
    "enersolar_crm": {"delete_selected": "ea", EXPORT: "vea"},
    "enersolar_account": {"delete_selected": "ea", EXPORT: "vea"},
    "enersolar_producttype": {"delete_selected": "ea", EXPORT: "vea"},
    "enersolar_department": {EXPORT: "vea"},
    "enersolar_qualitymapping": {"delete_selected": "ea", EXPORT: "vea"},
    "enersolar_apikey": {"delete_selected": "a", "revoke": "a", EXPORT: "a"},
    "enersolar_activitylog": {EXPORT: "vea"},
    "tracking_landingpage": {"delete_selected": "ea", EXPORT: "vea"},
    "tracking_form": {
        "delete_selected": "ea",
        "show_brief": "vea",
        "duplicate": "ea",
        "archive": "ea",
        EXPORT: "vea",
    },
    "tracking_visitorsession": {EXPORT: "vea"},
    "tracking_trackingevent": {EXPORT: "vea"},
    "leads_lead": {
        "retry": "ea",
        "correct_lead": "ea",
        "return_leads": "a",
        "erase_person": "a",
        EXPORT: "vea",
    },
    "leads_rejectedlead": {"correct_lead": "ea", EXPORT: "vea"},
    "routing_order": {"delete_selected": "ea", EXPORT: "vea"},
    "routing_defaultprice": {"delete_selected": "ea", EXPORT: "vea"},
    "routing_delivery": {"retry": "ea", EXPORT: "vea"},
    "routing_crmhealth": {EXPORT: "vea"},
    "routing_verificationreport": {EXPORT: "vea"},
    "billing_statement": {EXPORT: "a"},
    "billing_budgettransaction": {EXPORT: "a"},
    "billing_leadreturn": {EXPORT: "a"},
    "axes_accessattempt": {"delete_selected": "a", "cleanup_expired_attempts": "a", EXPORT: "a"},
    "axes_accesslog": {"delete_selected": "a", EXPORT: "a"},
    "axes_accessfailurelog": {"delete_selected": "a", EXPORT: "a"},
    "legacy_importbatch": {EXPORT: "a"},
    "legacy_legacyrecord": {EXPORT: "a"},
    "legacy_minianalysis": {EXPORT: "a"},
    "demo_sandboxbuyer": {"delete_selected": "ea", EXPORT: "vea"},
    "demo_sandboxreceipt": {EXPORT: "vea"},
}

LOGIN = 302  # the admin's answer to anybody not logged in: its login page
STAFF = (LOGIN, LOGIN, 200, 200, 200)
# Every other admin page and every API route: the method and the answer of
# each role, in the order of ROLES (anonymous, partner, viewer, editor, admin).
PAGES = {
    "admin:index": ("get", STAFF),
    "admin:dashboard_widgets": ("get", STAFF),
    "admin:departments": ("get", STAFF),
    "admin:departments_csv": ("get", STAFF),
    "admin:app_list": ("get", STAFF),
    "admin:login": ("get", (200, 200, 302, 302, 302)),
    "admin:logout": ("post", STAFF),
    "admin:password_change": ("get", STAFF),
    "admin:password_change_done": ("get", STAFF),
    "admin:jsi18n": ("get", STAFF),
    "admin:autocomplete": ("get", (LOGIN, LOGIN, 403, 403, 403)),  # no field given
    "admin:view_on_site": ("get", (LOGIN, LOGIN, 404, 404, 404)),  # CRMs have no site
    "admin:catch_all": ("get", (LOGIN, LOGIN, 404, 404, 404)),
    "admin:auth_user_password_change": ("get", (LOGIN, LOGIN, 403, 403, 200)),
    # Where leads go: the override key's page sends others back to the form.
    "admin:tracking_form_replace_key": ("get", (LOGIN, LOGIN, 302, 302, 200)),
    "admin:tracking_form_brief": ("get", STAFF),
    "admin:tracking_form_card_duplicate": ("post", (LOGIN, LOGIN, 403, 302, 302)),
    "admin:tracking_form_card_archive": ("post", (LOGIN, LOGIN, 403, 302, 302)),
    "admin:tracking_form_reset_stats": ("get", (LOGIN, LOGIN, 403, 403, 200)),
    # Queue and verification buttons answer everybody with the list and a
    # message; the permission is checked inside (routing/tests/test_admin.py).
    "admin:routing_delivery_process": ("post", (LOGIN, LOGIN, 302, 302, 302)),
    "admin:routing_delivery_retry_exhausted": ("post", (LOGIN, LOGIN, 302, 302, 302)),
    "admin:routing_verificationreport_run": ("post", (LOGIN, LOGIN, 302, 302, 302)),
    "admin:billing_statement_issue": ("post", (LOGIN, LOGIN, 302, 302, 302)),
    "admin:billing_statement_csv": ("get", (LOGIN, LOGIN, 403, 403, 200)),
    "admin:billing_statement_pdf": ("get", (LOGIN, LOGIN, 403, 403, 200)),
    "admin:billing_overview": ("get", (LOGIN, LOGIN, 403, 403, 200)),
    "admin:leads_lead_import": ("get", (LOGIN, LOGIN, 403, 200, 200)),
    # Correcting a rejected lead: its page (a lead that was not rejected
    # shows why it cannot be corrected).
    "admin:leads_lead_correct": ("get", (LOGIN, LOGIN, 403, 200, 200)),
    "admin:leads_rejectedlead_correct": ("get", (LOGIN, LOGIN, 403, 200, 200)),
    "admin:leads_lead_process_import": ("post", (LOGIN, LOGIN, 403, 200, 200)),
    # The API: staff endpoints by permission, public ones open (an empty body
    # is a 400), the partner endpoint by partner key only.
    "api:schema": ("get", (401, 401, 200, 200, 200)),
    "api:api-docs": ("get", (302, 302, 200, 200, 200)),
    "api:track-session": ("post", (400,) * 5),
    "api:track-lp-visit": ("post", (400,) * 5),
    "api:track-event": ("post", (400,) * 5),
    "api:public-form": ("get", (200,) * 5),
    "api:public-form-by-lp": ("get", (200,) * 5),
    "api:public-departements": ("get", (200,) * 5),
    "api:public-leads": ("post", (400,) * 5),
    "api:partner-leads": ("post", (401, 400, 401, 401, 401)),
    "api:forms-list": ("get", (401, 401, 200, 200, 200)),
    "api:form-brief": ("get", (401, 401, 200, 200, 200)),
    "api:queue-stats": ("get", (401, 401, 200, 200, 200)),
    "api:queue-items": ("get", (401, 401, 200, 200, 200)),
    "api:queue-process": ("post", (401, 401, 403, 403, 200)),
    "api:queue-retry-exhausted": ("post", (401, 401, 403, 403, 200)),
    "api:leads-list": ("get", (401, 401, 200, 200, 200)),
    "api:lead-detail": ("get", (401, 401, 200, 200, 200)),
    "api:lead-retry": ("post", (401, 401, 403, 409, 409)),  # delivered: nothing to retry
    "api:lead-return": ("post", (401, 401, 403, 403, 400)),  # no reason given
    "api:verification-run": ("post", (401, 401, 403, 403, 200)),
    "api:verification-status": ("get", (401, 401, 200, 200, 200)),
    # 503: no worker beats in the test world (the answer carries the checks).
    "api:readiness": ("get", (401, 401, 503, 503, 503)),
    "api:verification-reports": ("get", (401, 401, 200, 200, 200)),
    "api:billing-cross-crm": ("get", (401, 401, 403, 403, 200)),
    "api:billing-cross-crm-summary": ("get", (401, 401, 403, 403, 200)),
    # Prepaid budgets: Admin only (billing); a top-up without an amount is a 400.
    "api:billing-budgets": ("get", (401, 401, 403, 403, 200)),
    "api:billing-budget-ledger": ("get", (401, 401, 403, 403, 200)),
    "api:billing-budget-topup": ("post", (401, 401, 403, 403, 400)),
}

# --- From the table to one expectation per route -----------------------------------------

MODEL_VIEWS = ("changelist", "add", "change", "history", "delete", "export", "object")


@dataclass(frozen=True)
class Expected:
    method: str
    answers: tuple  # per role, in ROLES order
    save_button: str | None = None  # change pages: roles whose page has "Save"


def _letters(roles: str) -> set[str]:
    return {{"v": "viewer", "e": "editor", "a": "admin"}[r] for r in roles}


def _by_letters(allowed: str, *, refused=403) -> tuple:
    who = _letters(allowed)
    return (LOGIN, LOGIN, *(200 if r in who else refused for r in ROLES[2:]))


def expected(route: Route) -> Expected | None:
    if route.name in PAGES:
        method, answers = PAGES[route.name]
        return Expected(method, answers)
    key, _, view = route.name.removeprefix("admin:").rpartition("_")
    if key not in MODELS or view not in MODEL_VIEWS:
        return None
    view_roles, add, change, delete = MODELS[key]
    readable = "".join(sorted(set(view_roles) | set(change)))
    if view == "object":  # the bare object URL: a redirect to its change page
        return Expected("get", (LOGIN,) * 5)
    if view == "add":
        return Expected("get", _by_letters(add))
    if view == "delete":
        return Expected("get", _by_letters(delete))
    if view == "change":
        return Expected("get", _by_letters(readable), save_button=change)
    return Expected("get", _by_letters(readable))  # changelist, history, export


# --- The tests ----------------------------------------------------------------------------


def test_every_admin_url_and_api_route_is_in_the_table():
    routes = project_routes()
    missing = [f"{r.name}  ({r.pattern})" for r in routes if expected(r) is None]
    assert missing == [], "add these to MODELS / PAGES of tests/test_permission_matrix.py"
    names = {r.name for r in routes}
    assert set(PAGES) <= names, f"routes gone: {set(PAGES) - names}"
    assert set(MODELS) == set(model_admins()) == set(ACTIONS)


@pytest.fixture
def world(db, settings):
    settings.API_DOCS_PUBLIC = False  # the production default
    world = world_build()
    superuser = RequestFactory().get("/")
    superuser.user = world.users["admin"]
    world.objects = {k: one_object(a, superuser) for k, a in model_admins().items()}
    return world


def client_of(role: str, world) -> tuple[Client, dict]:
    client = Client()
    if role == "partner":
        return client, {"HTTP_AUTHORIZATION": f"Token {world.partner_key}"}
    if role != "anonymous":
        client.force_login(world.users[role])
    return client, {}


def body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def assert_no_key(world, role: str, url: str, content: bytes) -> None:
    shown = [key for key in world.keys if key.encode() in content]
    assert shown == [], f"{role} reads buyer keys in clear at {url}"


def export_fields(html: str) -> dict:
    names = re.findall(r'<input type="checkbox" name="([a-z0-9_]+)"', html)
    return {name: "on" for name in names if name != "select-all-toggle"}


@pytest.mark.parametrize("route", project_routes(), ids=lambda r: r.name)
def test_matrix(world, route):
    want = expected(route)
    assert want is not None, "not in the table (see the test above)"
    url = route_url(route, world, world.objects)
    answers, wrong = [], []
    for role, answer in zip(ROLES, want.answers, strict=True):
        client, headers = client_of(role, world)
        response = getattr(client, want.method)(url, **headers)
        content = body(response)
        answers.append(response.status_code)
        if response.status_code != answer:
            wrong.append(role)
        assert_no_key(world, role, url, content)
        if want.save_button is not None and response.status_code == 200:
            has_save = b'name="_save"' in content
            assert has_save == (role in _letters(want.save_button)), f"{role}: Save button"
        if route.name.endswith("_export") and response.status_code == 200:
            # The download itself: the CSV of every field the page offers.
            fields = export_fields(content.decode())
            download = client.post(url, {"format": "0", "resource": "0", **fields}, **headers)
            assert download["Content-Type"] == "text/csv; charset=utf-8", role
            assert_no_key(world, role, f"{url} (download)", body(download))
    assert not wrong, f"{url}: answers {answers}, expected {want.answers}"


@pytest.mark.parametrize("key", sorted(MODELS))
def test_actions(world, key):
    model_admin = model_admins()[key]
    for role in ROLES[2:]:
        request = RequestFactory().get(reverse(f"admin:{key}_changelist"))
        request.user = world.users[role]
        offered = set()
        if model_admin.has_view_or_change_permission(request):  # else no list to act on
            offered = set(model_admin.get_actions(request))
        allowed = {name for name, roles in ACTIONS[key].items() if role in _letters(roles)}
        assert offered == allowed, f"{key} as {role}"
