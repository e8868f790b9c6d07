"""Import batches and legacy records, and what legacy adds to the lead admin
(the RGPD erasure action); backoffice/admin.py assembles the Lead admin with
the CSV import and export (legacy/resources.py)."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from enersolar.admin_tools import CSVExportAdmin, ReadOnlyAdmin

from .models import ImportBatch, LegacyRecord
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


# --- What legacy adds to the lead admin (assembled in backoffice/admin.py) ---------------


class LeadErasureMixin:
    """The RGPD erasure of the selected leads' people (`erase_person`)."""

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
