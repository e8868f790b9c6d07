"""The lead's admin as the intake knows it, exported for backoffice/admin.py
(which registers Lead and RejectedLead): nothing is registered here."""

import json
import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from enersolar.admin_tools import ReadOnlyAdmin
from enersolar.france import DEPARTMENTS
from enersolar.models import CRM, QualityMapping
from enersolar.phone import phone_normalize

from .corrections import (
    CORRECTABLE_FIELDS,
    CORRECTABLE_STATUSES,
    CorrectionRefused,
    lead_correct,
    lead_corrections,
)
from .models import Lead
from .selectors import (
    leads_in_department,
    leads_of_campaign,
    leads_of_origin_crm,
    leads_with_email,
    leads_with_phone,
)


class DepartmentFilter(admin.SimpleListFilter):
    """A hundred departments: a search box over a short list
    (templates/admin/searchable_filter.html), not a wall of links."""

    title = _("department")
    parameter_name = "departement"
    template = "admin/searchable_filter.html"

    def lookups(self, request, model_admin):
        return [(code, f"{code} {name}") for code, name in DEPARTMENTS.items()]

    def queryset(self, request, queryset):
        return leads_in_department(queryset, department=self.value()) if self.value() else queryset


class RejectedFilter(admin.SimpleListFilter):
    title = _("outcome")
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("rejected", _("rejected at intake")), ("accepted", _("accepted"))]

    def queryset(self, request, queryset):
        if self.value() == "rejected":
            return queryset.filter(status__in=Lead.REJECTED_STATUSES)
        if self.value() == "accepted":
            return queryset.exclude(status__in=Lead.REJECTED_STATUSES)
        return queryset


class OriginCRMFilter(admin.SimpleListFilter):
    """The CRM owning the account's traffic (selectors.leads_of_origin_crm),
    by slug like GET /api/leads?origin_crm=."""

    title = _("origin CRM")
    parameter_name = "origin_crm"

    def lookups(self, request, model_admin):
        return list(CRM.objects.values_list("slug", "name"))

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return leads_of_origin_crm(queryset, crm_slug=self.value())


class CampaignFilter(admin.SimpleListFilter):
    """By `utm_campaign`, like GET /api/leads?utm_campaign=: the campaigns
    staff configured (quality mapping) are offered; any other works from the
    URL (?utm_campaign=…) or the search box."""

    title = _("campaign")
    parameter_name = "utm_campaign"

    def lookups(self, request, model_admin):
        campaigns = QualityMapping.objects.order_by("utm_campaign").values_list(
            "utm_campaign", flat=True
        )
        offered = [(c, c) for c in campaigns]
        # A campaign typed in the URL stays applied (and shown) though not configured.
        if self.value() and self.value() not in {c for c, _label in offered}:
            offered.append((self.value(), self.value()))
        return offered

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return leads_of_campaign(queryset, utm_campaign=self.value())


class LeadAdminBase(ReadOnlyAdmin):
    """The lead as the intake stored it: columns, filters, search, the
    person, project, origin and consent. backoffice/admin.py registers the
    Lead admin built on it with what routing, billing and legacy add."""

    list_display = [
        "created_at",
        "status",
        "product_type",
        "account",
        "origin_crm",
        "departement",
        "nom",
        "phone",
        "form_code",
        "why",  # the reasons in words
    ]
    list_filter = [
        "status",
        RejectedFilter,
        "product_type",
        "account",
        OriginCRMFilter,
        DepartmentFilter,
        CampaignFilter,
        "source",
        "created_at",
    ]
    # The account's origin CRM in the same query as the account (the column below).
    list_select_related = ["product_type", "account__origin_crm"]
    # Exact matches only, so every search is an index lookup even at millions of rows.
    search_fields = ["=phone", "=email", "=nom", "=utm_campaign"]
    search_help_text = _("Phone (any format), e-mail, last name, campaign or lead id.")
    show_full_result_count = False
    raw_id_fields = ["session", "form", "landing_page"]
    fieldsets = [
        (None, {"fields": ["id", "status", "why", "source", "created_at", "register_date"]}),
        (
            _("Person"),
            {
                "fields": [
                    "civilite",
                    "nom",
                    "prenom",
                    "phone",
                    "phone_raw",
                    "email",
                    "adresse",
                    "code_postal",
                    "ville",
                    "departement",
                ]
            },
        ),
        (
            _("Project"),
            {"fields": [*Lead.HOUSING_FIELDS, *Lead.PROJECT_FIELDS]},
        ),
        (
            _("Origin"),
            {
                "fields": [
                    "form",
                    "form_code",
                    "account",
                    "product_type",
                    "landing_page",
                    "lp_code",
                    "liaison_code",
                    "session",
                    "api_key",
                    "ip",
                    "utm_source",
                    "utm_medium",
                    "utm_campaign",
                    "quality_tier",
                ]
            },
        ),
        (
            _("Consent"),
            {
                "fields": [
                    "rgpd_consent",
                    "consent_at",
                    "consent_ip",
                    "consent_user_agent",
                    "consent_page_url",
                    "newsletter",
                ]
            },
        ),
        (_("Submitted data"), {"fields": ["submitted_data"]}),
    ]

    @admin.display(description=_("origin CRM"), ordering="account__origin_crm__name")
    def origin_crm(self, obj):
        """The CRM owning the account's traffic, as the origin-CRM filter
        (selectors.leads_of_origin_crm) reads it: known routed or not."""
        return obj.account.origin_crm if obj.account else None  # the list's "-"

    @admin.display(description=_("reasons"))
    def why(self, obj):
        return failure_reasons(obj)

    @admin.display(description=_("consent IP address"))
    def consent_ip(self, obj):
        return obj.ip or "—"

    @admin.display(description=_("submitted data"))
    def submitted_data(self, obj):
        """The body as the visitor or partner sent it, whole (values cut or
        left out of the columns above are here)."""
        text = json.dumps(obj.raw_payload, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html('<pre class="rdz-raw-payload">{}</pre>', text)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            pass
        if phone_normalize(term):
            return leads_with_phone(queryset, phone=term), False
        if "@" in term:
            return leads_with_email(queryset, email=term), False
        return super().get_search_results(request, queryset, term)


# --- Rejected leads: their own menu entry, with the reasons in words ---------------------------


def _duplicate_reason(detail: str):
    # Older reasons name no lead, and imported ones a legacy Mongo id: only a
    # lead id of ours can be linked.
    try:
        earlier = uuid.UUID(detail)
    except ValueError:
        return _("Duplicate of an earlier lead")
    return format_html(
        _('Duplicate of <a href="{}">an earlier lead</a>'),
        reverse("admin:leads_lead_change", args=[earlier]),
    )


def failure_reasons(lead: Lead):
    """The lead's reason codes (SPEC §3.1) as staff read them."""
    items = []
    for code in lead.reasons or []:
        name, _sep, detail = str(code).partition(":")
        if name == "FORM_NOT_FOUND":
            text = format_html(_("Form not found (sent: “{}”)"), lead.form_code or "—")
        elif name == "PRODUCT_NOT_FOUND":
            text = _("No form and no known product")
        elif name == "PHONE_INVALID":
            text = format_html(_("Invalid phone (sent: “{}”)"), lead.phone_raw or "—")
        elif name == "MISSING_REQUIRED":
            text = format_html(_("Missing or invalid: {}"), detail.replace(",", ", "))
        elif name == "DOUBLE_SUBMIT_BLOCKED":
            text = _("Sent twice within a few seconds")
        elif name == "DUPLICATE":
            text = _duplicate_reason(detail)
        elif name == "EXPIRED":
            text = format_html(
                _("Not delivered within {} h of its arrival: expired, never sent"),
                settings.LEAD_FRESHNESS_HOURS,
            )
        elif name == "CONSENT_REFUSED":
            text = _("Consent refused by the visitor: never delivered")
        elif name == "VALUE_CUT":
            text = format_html(
                _("Cut to the field's length (whole value in the submitted data): {}"),
                detail.replace(",", ", "),
            )
        elif name == "VALUE_REJECTED":
            text = format_html(
                _("Unusable value left out (kept in the submitted data): {}"),
                detail.replace(",", ", "),
            )
        else:
            text = code
        items.append((text,))
    if not items:
        return "—"
    return format_html(
        '<ul class="rdz-reasons">{}</ul>', format_html_join("", "<li>{}</li>", items)
    )


class RejectedStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(s.value, s.label) for s in Lead.REJECTED_STATUSES]

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


class RejectedLeadAdminBase(LeadAdminBase):
    """Leads refused at intake with why: bad forms, fake phones, missing
    fields, double submits and duplicates. Read-only, like every lead
    (registered in backoffice/admin.py with its CSV export)."""

    list_display = [
        "created_at",
        "status",
        "why",
        "phone_raw",
        "nom",
        "form_code",
        "account",
        "origin_crm",
        "product_type",
        "departement",
        "source",
    ]
    list_filter = [
        RejectedStatusFilter,
        "product_type",
        "account",
        OriginCRMFilter,
        DepartmentFilter,
        CampaignFilter,
        "source",
        "created_at",
    ]


# --- Correct a rejected lead and send it again -------------------------------------------------


class LeadCorrectionForm(forms.Form):
    """The values staff may correct, checked by the intake's rules
    (leads.corrections.lead_correction_clean) when submitted."""

    phone = forms.CharField(label=_("phone"), max_length=30, required=False)
    nom = forms.CharField(label=_("last name"), max_length=100, required=False)
    prenom = forms.CharField(label=_("first name"), max_length=100, required=False)
    code_postal = forms.CharField(label=_("postal code"), max_length=10, required=False)
    departement = forms.CharField(label=_("department"), max_length=3, required=False)

    def __init__(self, *args, lead: Lead, **kwargs):
        initial = {name: getattr(lead, name) for name in CORRECTABLE_FIELDS}
        # A phone the intake refused is stored only as sent: start from that.
        initial["phone"] = lead.phone or lead.phone_raw
        super().__init__(*args, initial=initial, **kwargs)

    def changes(self) -> dict:
        """The fields whose value differs from what the form was shown with."""
        return {name: self.cleaned_data[name] for name in self.changed_data}


class LeadCorrectionMixin:
    """ "Correct and send" for a rejected lead (invalid phone, missing field):
    a page of its own (`<id>/correct/`), reached from the lead page and from
    the `correct_lead` action of the lists; the lead's corrections (old → new)
    shown on its page. Editors and Admins (leads.change_lead)."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.correct_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_correct"
        return [path("<path:object_id>/correct/", view, name=name), *super().get_urls()]

    def has_correct_permission(self, request):
        return request.user.has_perm("leads.change_lead")

    @admin.action(description=_("Correct and send again"), permissions=["correct"])
    def correct_lead(self, request, queryset):
        leads = list(queryset[:2])
        if len(leads) != 1:
            self.message_user(request, _("Select one lead to correct."), messages.WARNING)
            return None
        return redirect(self._correct_url(leads[0]))

    def _correct_url(self, lead):
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_correct", args=[lead.pk]
        )

    def correct_view(self, request, object_id):
        if not self.has_correct_permission(request):
            raise PermissionDenied
        lead = get_object_or_404(Lead, pk=object_id)
        form = LeadCorrectionForm(request.POST or None, lead=lead, prefix="correct")
        if request.method == "POST" and form.is_valid():
            try:
                result = lead_correct(lead=lead, changes=form.changes(), user=request.user)
            except CorrectionRefused as refused:
                for field, message in refused.errors.items():
                    form.add_error(None if field not in form.fields else field, message)
            else:
                if result.sent:
                    self.message_user(request, _("Lead corrected and sent again."))
                else:
                    self.message_user(
                        request,
                        _("Lead corrected, still not delivered: %(status)s.")
                        % {"status": result.lead.get_status_display()},
                        messages.WARNING,
                    )
                return redirect(reverse("admin:leads_lead_change", args=[lead.pk]))
        return TemplateResponse(
            request,
            "admin/leads/correct_lead.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Correct a rejected lead"),
                "lead": lead,
                "why": failure_reasons(lead),
                "correctable": lead.status in CORRECTABLE_STATUSES,
                "form": form,
            },
        )

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        """The page the admin would render, with a "Correct and send again"
        button among its object tools for those who may use it."""
        response = super().render_change_form(request, context, *args, obj=obj, **kwargs)
        correctable = obj is not None and obj.status in CORRECTABLE_STATUSES
        if correctable and self.has_correct_permission(request):
            response.context_data["correct_url"] = self._correct_url(obj)
            response.context_data["correction_base"] = select_template(
                [response.template_name]
                if isinstance(response.template_name, str)
                else response.template_name
            )
            response.template_name = "admin/leads/lead_change_form.html"
        return response

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, (_("Corrections"), {"fields": ["corrections"]})]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "corrections"]

    @admin.display(description=_("corrections (old → new)"))
    def corrections(self, obj):
        rows = [
            (
                date_format(localtime(entry.created_at), "SHORT_DATETIME_FORMAT"),
                entry.user or "—",
                Lead._meta.get_field(field).verbose_name,
                change.get("old") or "—",
                change.get("new") or "—",
            )
            for entry in lead_corrections(obj)
            for field, change in entry.details["correction"].items()
        ]
        if not rows:
            return _("No correction.")
        return format_html(
            '<ul class="rdz-corrections">{}</ul>',
            format_html_join("", "<li>{} · {} · {} : « {} » → « {} »</li>", rows),
        )
