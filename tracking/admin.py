from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from enersolar.admin_tools import (
    CSVExportAdmin,
    DestinationFieldsMixin,
    JournaledAdmin,
    ReadOnlyAdmin,
    SecretFieldsForm,
)
from enersolar.destinations import can_manage_destinations

from .admin_cards import RESET_PERMISSION, FormCardsMixin
from .brief import brief_build, script_tag
from .cors import landing_page_cors
from .models import Form, LandingPage, TrackingEvent, VisitorSession
from .selectors import form_stats
from .services import form_archive, form_duplicate, form_override_key_replace


class LandingPageAdminForm(SecretFieldsForm):
    # The form an LP serves decides where its leads go: changing it is
    # journaled old → new and mailed, like a form's CRM override.
    destination_fields = ("form",)

    class Meta:
        model = LandingPage
        fields = "__all__"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields.get("form")
        if field is not None:
            # One of this LP's own active forms (a form belongs to one LP;
            # a new LP gets its first form when that form is created).
            own = Form.objects.filter(status=Form.Status.ACTIVE)
            pk = self.instance.pk
            field.queryset = own.filter(landing_page_id=pk) if pk else own.none()


@admin.register(LandingPage)
class LandingPageAdmin(CSVExportAdmin, DestinationFieldsMixin, JournaledAdmin):
    form = LandingPageAdminForm
    list_display = ["code", "name", "account", "form", "traffic_source", "status", "created_at"]
    list_filter = ["status", "traffic_source", "account"]
    search_fields = ["code", "name", "url"]
    list_select_related = ["account", "form"]
    readonly_fields = ["code", "cors"]
    fields = ["code", "name", "account", "form", "url", "cors", "traffic_source", "status"]

    @admin.display(description=_("CORS (calls from the page)"))
    def cors(self, obj):
        if obj is None or obj.pk is None:
            return _("Saved with its URL, the page's origin is allowed to call the public API.")
        allowed, text = landing_page_cors(obj)
        return format_html('<span class="rdz-cors {}">{}</span>', "ok" if allowed else "no", text)


class FormAdminForm(SecretFieldsForm):
    secret_fields = ("crm_override_api_key",)
    destination_fields = ("crm_override",)

    class Meta:
        model = Form
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        landing_page, account = cleaned.get("landing_page"), cleaned.get("account")
        if landing_page and account and landing_page.account_id != account.pk:
            self.add_error("landing_page", _("This landing page belongs to another account."))
        crm, key = cleaned.get("crm_override"), cleaned.get("crm_override_api_key")
        if key and not crm and not self.instance.crm_override_id:
            self.add_error("crm_override", _("An override key needs an override CRM."))
        return cleaned


class ReplaceKeyForm(forms.Form):
    api_key = forms.CharField(
        label=_("New API key"),
        max_length=255,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )


@admin.register(Form)
class FormAdmin(CSVExportAdmin, DestinationFieldsMixin, FormCardsMixin, JournaledAdmin):
    form = FormAdminForm
    list_display = [
        "code",
        "name",
        "product_type",
        "account",
        "landing_page",
        "crm_override",
        "status",
        "brief_link",
    ]
    list_filter = ["status", "product_type", "account", "crm_override"]
    search_fields = ["code", "name", "landing_page__code"]
    list_select_related = ["product_type", "account", "landing_page", "crm_override"]
    autocomplete_fields = ["landing_page"]
    actions = ["show_brief", "duplicate", "archive"]
    fieldsets = [
        (None, {"fields": ["code", "name", "product_type", "account", "landing_page", "status"]}),
        (
            _("CRM override"),
            {"fields": ["crm_override", "crm_override_api_key", "allow_cross_crm"]},
        ),
        (_("Conversion"), {"fields": ["conversion_mode", "redirect_url"]}),
        (_("Financial aid shown in the brief"), {"fields": ["aid_maprimerenov", "aid_cee"]}),
    ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_reset_stats": request.user.has_perm(RESET_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        readonly = [*super().get_readonly_fields(request, obj), "code", "stats_panel"]
        if obj is not None and obj.crm_override_api_key:
            # Write-once: once set, the key changes only through "Replace key".
            readonly.append("override_key_locked")
        return readonly

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            fieldsets = [*fieldsets, (_("Stats"), {"fields": ["stats_panel"]})]
        if obj is not None and obj.crm_override_api_key:
            fieldsets = [
                (
                    name,
                    {
                        **opts,
                        "fields": [
                            "override_key_locked" if f == "crm_override_api_key" else f
                            for f in opts["fields"]
                        ],
                    },
                )
                for name, opts in fieldsets
            ]
        return fieldsets

    @admin.display(description=_("CRM override API key"))
    def override_key_locked(self, obj):
        url = reverse("admin:tracking_form_replace_key", args=[obj.pk])
        return format_html(
            '{} <a class="button" href="{}">{}</a>',
            obj.crm_override_api_key_masked,
            url,
            _("Replace key"),
        )

    @admin.display(description=_("Counters and resets"))
    def stats_panel(self, obj):
        return render_to_string(
            "admin/tracking/form/stats_panel.html",
            {
                "form": obj,
                "stats": form_stats(obj),
                "snapshots": obj.stats_snapshots.select_related("reset_by")[:20],
            },
        )

    @admin.display(description=_("Brief"))
    def brief_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:tracking_form_brief", args=[obj.pk]), _("Brief")
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/replace-key/",
                self.admin_site.admin_view(self.replace_key_view),
                name="tracking_form_replace_key",
            ),
            path(
                "<int:pk>/brief/",
                self.admin_site.admin_view(self.brief_view),
                name="tracking_form_brief",
            ),
            *super().get_urls(),
        ]

    def brief_view(self, request, pk):
        """The brief with copy buttons: scripts (modes A and B) and the mini brief."""
        form_obj = get_object_or_404(
            Form.objects.select_related("account", "product_type", "landing_page"), pk=pk
        )
        if not self.has_view_permission(request, form_obj):
            raise PermissionDenied
        form_url = request.GET.get("form_url", "").strip()[:500]
        brief = brief_build(form_obj, form_url=form_url)
        mini = brief["mini_brief"]
        snippets = [
            (
                "mode-a-lp",
                _("Mode A — landing page script"),
                _("Paste before </body> on the landing page."),
                script_tag(brief["mode_a"]["lp_script"]),
            ),
            (
                "mode-a-form",
                _("Mode A — form page script"),
                _("Paste before </body> on the form page; call rdzSubmitLead(data) on submit."),
                script_tag(brief["mode_a"]["form_script"]),
            ),
            (
                "mode-b",
                _("Mode B — integrated script"),
                _("One script for a landing page that contains the form."),
                script_tag(brief["mode_b"]["script"]),
            ),
            (
                "thank-you",
                _("Thank-you page script"),
                _(
                    "Paste before </body> on the thank-you page: it sends again a lead the "
                    "form page could not (API unreachable, overloaded)."
                ),
                script_tag(brief["thank_you_script"]),
            ),
        ]
        gtm = [
            ("gtm-head", _("GTM — head"), mini["gtm_head"]),
            ("gtm-body", _("GTM — body"), mini["gtm_body"]),
            ("gtm-conversion", _("GTM — conversion"), mini["gtm_conversion"]),
        ]
        demo_pages = []
        if settings.SANDBOX_ENABLED:
            demo_pages = [
                (_("Landing page (mode A)"), reverse("demo-lp", args=[mini["lp_code"]])),
                (_("Form page (mode A)"), reverse("demo-form", args=[form_obj.code])),
                (_("Integrated page (mode B)"), reverse("demo-integrated", args=[mini["lp_code"]])),
            ]
        cors_allowed, cors_text = landing_page_cors(form_obj.landing_page)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": form_obj,
            "cors_allowed": cors_allowed,
            "cors_text": cors_text,
            "brief": brief,
            "mini": mini,
            "snippets": snippets,
            "gtm": gtm,
            "form_url": form_url,
            "demo_pages": demo_pages,
            "api_url": reverse("form-brief", args=[form_obj.pk]),
            "title": _("Brief of %(code)s") % {"code": form_obj.code},
        }
        return TemplateResponse(request, "admin/tracking/form/brief.html", context)

    @admin.action(description=_("Show the brief"), permissions=["view"])
    def show_brief(self, request, queryset):
        forms = list(queryset[:2])
        if len(forms) != 1:
            self.message_user(request, _("Select exactly one form."), messages.WARNING)
            return None
        return redirect("admin:tracking_form_brief", forms[0].pk)

    def replace_key_view(self, request, pk):
        form_obj = get_object_or_404(Form, pk=pk)
        if not (
            self.has_change_permission(request, form_obj) and can_manage_destinations(request.user)
        ):
            return redirect("admin:tracking_form_change", pk)
        key_form = ReplaceKeyForm(request.POST or None)
        if request.method == "POST" and key_form.is_valid():
            form_override_key_replace(
                form=form_obj, api_key=key_form.cleaned_data["api_key"], user=request.user
            )
            self.message_user(request, _("The override API key was replaced."), messages.SUCCESS)
            return redirect("admin:tracking_form_change", pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": form_obj,
            "key_form": key_form,
            "title": _("Replace the override API key of %(code)s") % {"code": form_obj.code},
        }
        return TemplateResponse(request, "admin/tracking/form/replace_key.html", context)

    @admin.action(description=_("Duplicate selected forms"), permissions=["add"])
    def duplicate(self, request, queryset):
        codes = [form_duplicate(form=f, user=request.user).code for f in queryset]
        self.message_user(
            request, _("Created: %(codes)s") % {"codes": ", ".join(codes)}, messages.SUCCESS
        )

    @admin.action(description=_("Archive selected forms"), permissions=["change"])
    def archive(self, request, queryset):
        for form_obj in queryset:
            form_archive(form=form_obj, user=request.user)
        self.message_user(request, _("Forms archived."), messages.SUCCESS)


@admin.register(VisitorSession)
class VisitorSessionAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = [
        "created_at",
        "id",
        "lp_code",
        "form_code",
        "utm_source",
        "utm_campaign",
        "status",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["=id", "=visitor_id", "=lp_code", "=form_code"]
    show_full_result_count = False


@admin.register(TrackingEvent)
class TrackingEventAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "event_type", "session", "lp_code", "form_code"]
    list_filter = ["event_type", "created_at"]
    search_fields = ["=session__id", "=lp_code", "=form_code"]
    raw_id_fields = ["session"]
    show_full_result_count = False
