"""The back office's top layer: import batches, CSV export of every list,
CSV import of leads, and the RGPD erasure action.

Apps below extend the Lead admin by unregistering and subclassing it
(leads → routing → billing); this one does the same, and also adds
django-import-export's export (a button exporting the filtered list, and an
action exporting the selected rows) to every model admin registered so far,
keeping each admin's own behaviour and templates."""

import json

from django.contrib import admin, messages
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.admin import ImportMixin

from billing.admin import LeadAdmin as BillingLeadAdmin
from enersolar.admin_tools import ReadOnlyAdmin
from enersolar.admin_tools import StreamingCSVExportMixin as ExportActionMixin
from leads.models import Lead

from .models import ImportBatch, LegacyRecord, MiniAnalysis
from .resources import LeadExportResource, LeadImportResource
from .rgpd import person_erase


class LegacyRecordInline(admin.TabularInline):
    model = LegacyRecord
    extra = 0
    max_num = 0
    can_delete = False
    fields = ["collection", "legacy_id", "object_id", "created", "extra"]
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request)[:0]  # a batch holds up to millions


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    list_display = ["name", "started_at", "finished_at", "user", "source"]
    search_fields = ["name"]
    fields = ["name", "source", "started_at", "finished_at", "user", "counts"]


@admin.register(LegacyRecord)
class LegacyRecordAdmin(ReadOnlyAdmin):
    list_display = ["collection", "legacy_id", "content_type", "object_id", "created", "batch"]
    list_filter = ["collection", "created", "batch"]
    search_fields = ["=legacy_id", "=object_id"]
    list_select_related = ["batch", "content_type"]
    show_full_result_count = False


@admin.register(MiniAnalysis)
class MiniAnalysisAdmin(ReadOnlyAdmin):
    list_display = ["brand_name", "status", "lead", "sector", "language", "migrated_at", "batch"]
    list_filter = ["status", "language", "batch"]
    search_fields = ["=lead__email", "brand_name"]
    list_select_related = ["lead", "batch"]


# --- CSV export of every admin list ----------------------------------------------------

# Never in an export: credentials (outbound CRM keys are shown masked in the
# admin and must not leave it in full; password and key hashes neither).
SECRET_FIELDS = {"password", "api_key", "crm_override_api_key", "key_hash"}
# Models whose rows are credentials themselves.
NOT_EXPORTED = {"authtoken.token", "authtoken.tokenproxy"}


def export_resource(model) -> type[resources.ModelResource]:
    secret = [f.name for f in model._meta.concrete_fields if f.name in SECRET_FIELDS]
    meta = type("Meta", (), {"model": model, "exclude": secret})
    return type(f"{model.__name__}ExportResource", (resources.ModelResource,), {"Meta": meta})


for model, model_admin in list(admin.site._registry.items()):
    if (
        model is Lead
        or model._meta.label_lower in NOT_EXPORTED
        or isinstance(model_admin, ExportActionMixin)
    ):
        continue
    admin_class = type(model_admin)
    attrs = {
        "__module__": __name__,
        # Lead proxies (rejected leads) export the lead list's own columns.
        "resource_classes": [
            LeadExportResource if issubclass(model, Lead) else export_resource(model)
        ],
        # The admin's own change page (e.g. a form's brief link) wins over
        # import-export's; with None, Django finds admin/<app>/<model>/… itself.
        "change_form_template": admin_class.change_form_template,
    }
    if admin_class.change_list_template:
        # Import-export's list template shows object tools only to users who
        # may add, which would hide read-only pages' own buttons (process the
        # queue, run the verification, issue statements): keep the page's
        # template, which includes the export button itself.
        attrs["import_export_change_list_template"] = None
    admin.site.unregister(model)
    admin.site.register(model, type(admin_class.__name__, (ExportActionMixin, admin_class), attrs))


# --- Leads: CSV import and export, RGPD erasure, what the legacy system said ----------------


class MiniAnalysisStatusFilter(admin.SimpleListFilter):
    """The migrated mini-analyses (seed 004) by their original status."""

    title = _("mini-analysis")
    parameter_name = "mini_analysis"

    def lookups(self, request, model_admin):
        return [
            ("any", _("every migrated mini-analysis")),
            *((status, status) for status in MiniAnalysis.Status.values),
        ]

    def queryset(self, request, queryset):
        if self.value() == "any":
            return queryset.filter(mini_analysis__isnull=False)
        if self.value() in MiniAnalysis.Status.values:
            return queryset.filter(mini_analysis__status=self.value())
        return queryset


admin.site.unregister(Lead)


@admin.register(Lead)
class LeadAdmin(ImportMixin, ExportActionMixin, BillingLeadAdmin):
    resource_classes = [LeadImportResource]
    import_export_change_list_template = "admin/import_export/change_list_import_export.html"
    actions = [*BillingLeadAdmin.actions, "erase_person"]
    list_filter = [*BillingLeadAdmin.list_filter, MiniAnalysisStatusFilter]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, (_("Legacy system"), {"fields": ["legacy_panel"]})]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "legacy_panel"]

    @admin.display(description=_("Imported from"))
    def legacy_panel(self, obj):
        """The legacy documents this lead came from (a linked duplicate too),
        with the fields we keep as they came, and a migrated mini-analysis."""
        records = list(
            LegacyRecord.objects.filter(
                collection__in=["leads", "mini_analyses"], object_id=str(obj.pk)
            ).select_related("batch")
        )
        if not records:
            return _("Not imported.")
        for record in records:
            record.extra_text = json.dumps(
                record.extra, indent=1, ensure_ascii=False, cls=DjangoJSONEncoder
            )
        analysis = MiniAnalysis.objects.select_related("batch").filter(lead=obj).first()
        return render_to_string(
            "admin/legacy/lead_legacy_panel.html", {"records": records, "analysis": analysis}
        )

    def get_import_resource_classes(self, request):
        return [LeadImportResource]

    def get_export_resource_classes(self, request):
        return [LeadExportResource]

    @admin.action(description=_("Erase these people's personal data (RGPD)"), permissions=["erase"])
    def erase_person(self, request, queryset):
        people = {(lead.phone or lead.phone_raw, lead.email) for lead in queryset}
        if "confirm" not in request.POST:
            return TemplateResponse(
                request,
                "admin/legacy/erase_person.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "leads": queryset,
                    "people": len(people),
                    "title": _("Erase personal data"),
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        leads = 0
        for phone, email in people:
            leads += person_erase(
                phone=phone or None, email=email or None, user=request.user, via="admin"
            ).leads
        self.message_user(
            request,
            _("%(people)d person(s) erased: %(leads)d lead(s) anonymised.")
            % {"people": len(people), "leads": leads},
            messages.SUCCESS,
        )
        return None

    def has_erase_permission(self, request):
        return request.user.has_perm("legacy.erase_person")
