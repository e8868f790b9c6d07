"""Import batches, legacy records and mini-analyses, and what legacy adds to
the lead admin (the legacy panel, its filter, the RGPD erasure action);
backoffice/admin.py assembles the Lead admin with
the CSV import and export (legacy/resources.py)."""

import json

from django.contrib import admin, messages
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from enersolar.admin_tools import CSVExportAdmin, ReadOnlyAdmin

from .models import ImportBatch, LegacyRecord, MiniAnalysis
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
class ImportBatchAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = ["name", "started_at", "finished_at", "user", "source"]
    search_fields = ["name"]
    fields = ["name", "source", "started_at", "finished_at", "user", "counts"]


@admin.register(LegacyRecord)
class LegacyRecordAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = ["collection", "legacy_id", "content_type", "object_id", "created", "batch"]
    list_filter = ["collection", "created", "batch"]
    search_fields = ["=legacy_id", "=object_id"]
    list_select_related = ["batch", "content_type"]
    show_full_result_count = False


@admin.register(MiniAnalysis)
class MiniAnalysisAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = ["brand_name", "status", "lead", "sector", "language", "migrated_at", "batch"]
    list_filter = ["status", "language", "batch"]
    search_fields = ["=lead__email", "brand_name"]
    list_select_related = ["lead", "batch"]


# --- What legacy adds to the lead admin (assembled in backoffice/admin.py) ---------------


class MiniAnalysisStatusFilter(admin.SimpleListFilter):
    """The migrated mini-analyses (seed 004) by their original status."""

    title = _("mini-analysis")
    parameter_name = "mini_analysis"

    def lookups(self, request, model_admin):
        return [
            ("any", _("every migrated mini-analysis")),
            *MiniAnalysis.Status.choices,
        ]

    def queryset(self, request, queryset):
        if self.value() == "any":
            return queryset.filter(mini_analysis__isnull=False)
        if self.value() in MiniAnalysis.Status.values:
            return queryset.filter(mini_analysis__status=self.value())
        return queryset


LEAD_LEGACY_FILTERS = [MiniAnalysisStatusFilter]


class LeadLegacyMixin:
    """What the legacy system said about a lead (the "Legacy system" panel)
    and the RGPD erasure of the selected leads' people (`erase_person`)."""

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
