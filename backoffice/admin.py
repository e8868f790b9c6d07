"""The admins that several apps complete, assembled once: the Lead admin
(leads' columns and fieldsets, routing's delivery panel and "Relancer",
billing's returns, legacy's panel, RGPD erasure and CSV import), the rejected leads,
the Order admin (routing's, with billing's budget columns), and the CSV export
of the admins Django and axes register themselves.

Every other admin is registered by its own app, its CSV export applied there
(enersolar.admin_tools.CSVExportAdmin). backoffice is the one app that may
import all the others; none of them imports this module."""

# The apps' own admin modules first, so the admins replaced below are
# registered whatever the order of INSTALLED_APPS.
import axes.admin as axes_admin
import django.contrib.auth.admin as auth_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, User
from import_export.admin import ImportMixin

from billing.admin import ORDER_BUDGET_COLUMNS, LeadReturnMixin, OrderBudgetMixin
from enersolar.admin_tools import CSVExportAdmin, PermissionLabelsMixin, StreamingCSVExportMixin
from leads.admin import LeadAdminBase, RejectedLeadAdminBase
from leads.correction_admin import LeadCorrectionMixin
from leads.models import Lead, RejectedLead
from legacy.admin import LEAD_LEGACY_FILTERS, LeadLegacyMixin
from legacy.resources import LeadExportResource, LeadImportResource
from routing.admin import (
    LEAD_DELIVERY_FILTERS,
    LEAD_DELIVERY_SELECT_RELATED,
    LeadDeliveryMixin,
    OrderAdminBase,
)
from routing.models import Order


def _columns_with_target_crm(columns: list[str]) -> list[str]:
    """The lead list's columns with routing's target CRM beside the origin CRM."""
    at = columns.index("origin_crm") + 1
    return [*columns[:at], "target_crm", *columns[at:]]


@admin.register(Lead)
class LeadAdmin(
    ImportMixin,  # CSV import of leads (legacy.resources.LeadImportResource)
    StreamingCSVExportMixin,  # CSV export, streamed (legacy.resources.LeadExportResource)
    LeadLegacyMixin,  # legacy: the legacy panel, "Erase these people's personal data (RGPD)"
    LeadReturnMixin,  # billing: "Return (buyer refused the lead)"
    LeadDeliveryMixin,  # routing: the delivery panel and "Relancer"
    LeadCorrectionMixin,  # leads: "Correct and send again" a rejected lead, its corrections
    LeadAdminBase,  # leads: columns, filters, search, fieldsets
):
    list_display = _columns_with_target_crm(LeadAdminBase.list_display)
    list_select_related = [*LeadAdminBase.list_select_related, *LEAD_DELIVERY_SELECT_RELATED]
    list_filter = [*LeadAdminBase.list_filter, *LEAD_DELIVERY_FILTERS, *LEAD_LEGACY_FILTERS]
    actions = ["retry", "correct_lead", "return_leads", "erase_person"]
    resource_classes = [LeadImportResource]
    import_export_change_list_template = "admin/import_export/change_list_import_export.html"

    def get_import_resource_classes(self, request):
        return [LeadImportResource]

    def get_export_resource_classes(self, request):
        return [LeadExportResource]


@admin.register(RejectedLead)
class RejectedLeadAdmin(CSVExportAdmin, LeadCorrectionMixin, RejectedLeadAdminBase):
    # The lead list's own columns.
    resource_classes = [LeadExportResource]
    actions = ["correct_lead"]


@admin.register(Order)
class OrderAdmin(CSVExportAdmin, OrderBudgetMixin, OrderAdminBase):
    list_display = [*OrderAdminBase.list_display, *ORDER_BUDGET_COLUMNS]


# --- The CSV export of the admins Django and axes register -------------------------------


admin.site.unregister([User, Group])


@admin.register(User)
class UserAdmin(CSVExportAdmin, PermissionLabelsMixin, auth_admin.UserAdmin):
    pass


@admin.register(Group)
class GroupAdmin(CSVExportAdmin, PermissionLabelsMixin, auth_admin.GroupAdmin):
    pass


if settings.AXES_ENABLE_ADMIN:  # as axes registers them
    admin.site.unregister([AccessAttempt, AccessLog, AccessFailureLog])

    @admin.register(AccessAttempt)
    class AccessAttemptAdmin(CSVExportAdmin, axes_admin.AccessAttemptAdmin):
        pass

    @admin.register(AccessLog)
    class AccessLogAdmin(CSVExportAdmin, axes_admin.AccessLogAdmin):
        pass

    @admin.register(AccessFailureLog)
    class AccessFailureLogAdmin(CSVExportAdmin, axes_admin.AccessFailureLogAdmin):
        pass
