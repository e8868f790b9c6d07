"""The lead's admin as the intake knows it, exported for backoffice/admin.py
(which registers Lead and RejectedLead): nothing is registered here."""

import json
import uuid

from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from enersolar.admin_tools import ReadOnlyAdmin
from enersolar.france import DEPARTMENTS
from enersolar.models import CRM, QualityMapping
from enersolar.phone import phone_normalize

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
