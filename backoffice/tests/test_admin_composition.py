"""The admin is composed once: the Lead admin is backoffice's own class, built
from the mixins the apps export, and every list but the token keys offers the
CSV export because its admin says so (no admin rebuilt at start-up)."""

import ast
import sys
from pathlib import Path

from django.conf import settings
from django.contrib import admin

from backoffice.admin import LeadAdmin, OrderAdmin, RejectedLeadAdmin
from billing.admin import LeadReturnMixin, OrderBudgetMixin
from enersolar.admin_tools import StreamingCSVExportMixin
from leads.admin import LeadAdminBase, RejectedLeadAdminBase
from leads.models import Lead, RejectedLead
from legacy.admin import LeadLegacyMixin
from routing.admin import LeadDeliveryMixin, OrderAdminBase
from routing.models import Order

NOT_EXPORTED = {"authtoken.tokenproxy"}  # its rows are credentials


def test_the_lead_admin_is_backoffices_class_made_of_each_apps_part():
    registered = admin.site._registry
    assert type(registered[Lead]) is LeadAdmin
    assert type(registered[RejectedLead]) is RejectedLeadAdmin
    assert type(registered[Order]) is OrderAdmin
    for part in (LeadLegacyMixin, LeadReturnMixin, LeadDeliveryMixin, LeadAdminBase):
        assert issubclass(LeadAdmin, part)
    assert issubclass(RejectedLeadAdmin, RejectedLeadAdminBase)
    assert issubclass(OrderAdmin, OrderBudgetMixin) and issubclass(OrderAdmin, OrderAdminBase)


def test_every_admin_but_the_token_keys_exports_csv_by_its_own_class():
    for model, model_admin in admin.site._registry.items():
        exports = isinstance(model_admin, StreamingCSVExportMixin)
        assert exports is (model._meta.label_lower not in NOT_EXPORTED), model._meta.label
        # A class written in a module, not one built at run time with type().
        cls = type(model_admin)
        assert getattr(sys.modules[cls.__module__], cls.__qualname__, None) is cls, cls


def test_only_backoffice_replaces_an_admin():
    """The product apps register their own models only; backoffice alone
    unregisters (Django's and axes' admins, to add the export)."""
    offenders = []
    for path in Path(settings.BASE_DIR).glob("*/admin.py"):
        if path.parent.name == "backoffice":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"unregister", "_registry"}:
                offenders.append(f"{path.parent.name}/admin.py:{node.lineno}")
    assert offenders == []
