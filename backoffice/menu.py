"""The admin's menu, ordered by daily use (issue 15): the sidebar and the index
list these sections, not Django's apps in alphabetical order. Whatever is
technical sits under one "Système" section; a model no section names lands
there too, so nothing registered ever drops out of the menu.

The model entries are those of Django's own app list (AdminSite.get_app_list),
moved, not rebuilt: each keeps what its ModelAdmin grants the user (add link,
view-only), a model the user may not see is absent, and a section left with
nothing to show is not listed."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Page:
    """A page of the site that belongs to no model's list (the dashboard, the
    billing page…), shown to whoever may open it."""

    key: str
    name: str
    url_name: str
    permission: str | None = None  # a Django permission the page's view checks
    with_model: str | None = None  # or: shown when this model's list is shown
    anchor: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    name: str
    entries: tuple  # "app_label.ObjectName" (a model admin) or a Page


# The index is /admin/, which Django's app_list.html finds `in request.path` of
# every admin page and would mark as the current entry everywhere: the anchor of
# the dashboard on that page keeps the link right and the mark where it belongs.
DASHBOARD = Page("dashboard", _("Dashboard"), "admin:index", anchor="#dashboard")
DEPARTMENTS_PERMISSION = "leads.view_lead"  # the departments page's (backoffice/sites.py)
DEPARTMENTS = Page(
    "departments",
    _("Leads per department"),
    "admin:departments",
    permission=DEPARTMENTS_PERMISSION,
)
BILLING = Page(
    "billing", _("Billing between CRMs"), "admin:billing_overview", with_model="billing.Statement"
)

SYSTEM = "system"
MENU = (
    Section("dashboard", _("Dashboard"), (DASHBOARD,)),
    Section("leads", _("Leads"), ("leads.Lead",)),
    Section("rejected", _("Rejected leads"), ("leads.RejectedLead",)),
    Section("forms", _("Forms"), ("tracking.Form", "tracking.LandingPage")),
    # Who buys what: the orders, their default prices, the buyers and the accounts.
    Section(
        "orders",
        _("Orders"),
        ("routing.Order", "routing.DefaultPrice", "enersolar.CRM", "enersolar.Account"),
    ),
    Section(
        "billing",
        _("Billing"),
        (BILLING, "billing.Statement", "billing.BudgetTransaction", "billing.LeadReturn"),
    ),
    Section("queues", _("Queues"), ("routing.Delivery", "routing.CRMHealth")),
    Section(
        "reports",
        _("Reports"),
        ("routing.VerificationReport", DEPARTMENTS, "enersolar.ActivityLog"),
    ),
    # Reference data, access, tracking internals, sandbox, legacy migration;
    # any model named nowhere above follows these.
    Section(
        SYSTEM,
        _("System"),
        (
            "auth.User",
            "auth.Group",
            "enersolar.ApiKey",
            "authtoken.TokenProxy",
            "enersolar.ProductType",
            "enersolar.QualityMapping",
            "enersolar.Department",
            "tracking.VisitorSession",
            "tracking.TrackingEvent",
            "demo.SandboxBuyer",
            "demo.SandboxReceipt",
            "legacy.ImportBatch",
            "legacy.LegacyRecord",
            "legacy.MiniAnalysis",
            "axes.AccessLog",
            "axes.AccessAttempt",
            "axes.AccessFailureLog",
        ),
    ),
)


def menu_build(app_list: list[dict], user, site_name: str) -> list[dict]:
    """Django's app list (apps of model entries the user may see) regrouped
    into MENU's sections, in the shape Django's templates read (app_list.html)."""
    models = {
        f"{app['app_label']}.{model['object_name']}": model
        for app in app_list
        for model in app["models"]
    }
    named = {entry for section in MENU for entry in section.entries if isinstance(entry, str)}
    menu = []
    for section in MENU:
        entries = [_entry(entry, models, user, site_name) for entry in section.entries]
        if section.key == SYSTEM:
            entries += [model for key, model in models.items() if key not in named]
        entries = [entry for entry in entries if entry]
        if entries:
            menu.append(
                {
                    "name": section.name,
                    "app_label": f"menu-{section.key}",
                    "app_url": entries[0]["admin_url"],
                    "has_module_perms": True,
                    "models": entries,
                }
            )
    return menu


def _entry(entry, models: dict, user, site_name: str) -> dict | None:
    if isinstance(entry, str):
        return models.get(entry)
    if entry.permission and not user.has_perm(entry.permission):
        return None
    if entry.with_model and entry.with_model not in models:
        return None
    return {
        "name": entry.name,
        "object_name": entry.key,
        "admin_url": reverse(entry.url_name, current_app=site_name) + entry.anchor,
        "add_url": None,
        "view_only": True,
        "perms": {"view": True},
    }
