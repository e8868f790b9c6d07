import json

from django.apps import apps
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .admin_tools import (
    CSVExportAdmin,
    DestinationFieldsMixin,
    JournaledAdmin,
    ReadOnlyAdmin,
    SecretFieldsForm,
)
from .destinations import can_manage_destinations
from .models import (
    CRM,
    Account,
    AccountRouting,
    ActivityLog,
    ApiKey,
    Department,
    ProductType,
    QualityMapping,
)
from .services import api_key_create, api_key_revoke

admin.site.site_header = _("EnerSolar CRM")
admin.site.site_title = _("EnerSolar CRM")
admin.site.index_title = _("Back office")


class CRMForm(SecretFieldsForm):
    destination_fields = ("api_url",)

    class Meta:
        model = CRM
        fields = "__all__"


@admin.register(CRM)
class CRMAdmin(CSVExportAdmin, DestinationFieldsMixin, JournaledAdmin):
    form = CRMForm
    list_display = ["name", "slug", "api_url", "is_active", "only_ordered_leads"]
    list_filter = ["is_active", "only_ordered_leads"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    def has_add_permission(self, request):
        # A new CRM is a new endpoint: where leads may go.
        return super().has_add_permission(request) and can_manage_destinations(request.user)


class AccountRoutingForm(SecretFieldsForm):
    secret_fields = ("api_key",)

    class Meta:
        model = AccountRouting
        fields = ["product_type", "crm", "api_key"]


class AccountRoutingInline(DestinationFieldsMixin, admin.TabularInline):
    model = AccountRouting
    form = AccountRoutingForm
    extra = 0


@admin.register(Account)
class AccountAdmin(CSVExportAdmin, JournaledAdmin):
    list_display = ["name", "origin_crm", "created_at"]
    list_filter = ["origin_crm"]
    search_fields = ["name"]
    list_select_related = ["origin_crm"]
    inlines = [AccountRoutingInline]
    fieldsets = [
        (None, {"fields": ["name", "origin_crm", "redirect_url"]}),
        (_("Branding"), {"fields": ["logo_url", "secondary_logo_url"]}),
        (_("Google Tag Manager"), {"fields": ["gtm_head", "gtm_body", "gtm_conversion"]}),
        (_("Legal texts"), {"fields": ["legal_notice", "privacy_text"]}),
    ]


@admin.register(ProductType)
class ProductTypeAdmin(CSVExportAdmin, JournaledAdmin):
    list_display = ["code", "name", "dedupe_window_days"]
    search_fields = ["code", "name"]


@admin.register(Department)
class DepartmentAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(QualityMapping)
class QualityMappingAdmin(CSVExportAdmin, JournaledAdmin):
    list_display = ["utm_campaign", "quality_tier"]
    search_fields = ["utm_campaign", "quality_tier"]


@admin.register(ApiKey)
class ApiKeyAdmin(CSVExportAdmin, admin.ModelAdmin):
    list_display = ["name", "account", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["account"]
    list_select_related = ["account"]
    search_fields = ["name", "prefix", "account__name"]
    fields = ["account", "name"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None):
        return False  # a key is created or revoked, never edited

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["account", "name"]
        return [
            "account",
            "name",
            "prefix",
            "created_at",
            "created_by",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        # The raw key exists only in this response: it is neither stored nor logged.
        # It rides on the request, never on this ModelAdmin, which every
        # request and thread shares.
        created, request._api_key_raw = api_key_create(
            account=obj.account, name=obj.name, user=request.user
        )
        # The admin goes on with `obj` (history entry, response): make it the saved key.
        for model_field in ApiKey._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(created, model_field.attname))
        obj._state.adding, obj._state.db = False, created._state.db

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "api_key": obj,
            "raw_key": request._api_key_raw,
            "title": _("Partner API key created"),
        }
        return TemplateResponse(request, "admin/enersolar/apikey/created.html", context)

    @admin.action(description=_("Revoke selected keys"), permissions=["delete"])
    def revoke(self, request, queryset):
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, user=request.user)
        self.message_user(request, _("Keys revoked."), messages.SUCCESS)


def object_type_name(object_type: str) -> str:
    """ "routing.order" as staff read it: the model's name ("Commande")."""
    try:
        return capfirst(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type or "—"


class ObjectTypeFilter(admin.SimpleListFilter):
    title = _("object type")
    parameter_name = "object_type"

    def lookups(self, request, model_admin):
        types = ActivityLog.objects.order_by().values_list("object_type", flat=True).distinct()
        return sorted(((t, object_type_name(t)) for t in types if t), key=lambda c: c[1])

    def queryset(self, request, queryset):
        return queryset.filter(object_type=self.value()) if self.value() else queryset


@admin.register(ActivityLog)
class ActivityLogAdmin(CSVExportAdmin, ReadOnlyAdmin):
    """The journal: browsable by who, what, which kind of object and when;
    nobody edits or deletes it, a superuser neither."""

    list_display = ["created_at", "user", "action", "object_kind", "object_link"]
    list_filter = ["action", ObjectTypeFilter, "created_at", "user"]
    search_fields = ["object_repr", "=object_id", "user__username"]
    search_help_text = _("Object, exact object id or user name.")
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    # Every retry and queue action is journaled: the table grows like the leads.
    show_full_result_count = False
    fields = [
        "created_at",
        "user",
        "action",
        "object_kind",
        "object_id",
        "object_link",
        "details_pretty",
    ]

    @admin.display(description=_("object type"), ordering="object_type")
    def object_kind(self, entry):
        return object_type_name(entry.object_type)

    @admin.display(description=_("object"), ordering="object_repr")
    def object_link(self, entry):
        """The object's admin page when the admin has one (no query: the
        journal keeps the type and id, the object may since be gone)."""
        app_label, _dot, model_name = entry.object_type.partition(".")
        if entry.object_id and model_name:
            try:
                url = reverse(f"admin:{app_label}_{model_name}_change", args=[entry.object_id])
            except NoReverseMatch:
                url = ""
            if url:
                return format_html('<a href="{}">{}</a>', url, entry.object_repr)
        return entry.object_repr or "—"

    @admin.display(description=_("details"))
    def details_pretty(self, entry):
        if not entry.details:
            return "—"
        text = json.dumps(entry.details, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre class="rdz-details">{}</pre>', text)
