import uuid

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from enersolar.admin_tools import ReadOnlyAdmin
from enersolar.france import DEPARTMENTS
from enersolar.phone import phone_normalize

from .models import Lead


class DepartmentFilter(admin.SimpleListFilter):
    title = _("department")
    parameter_name = "departement"

    def lookups(self, request, model_admin):
        return [(code, f"{code} {name}") for code, name in DEPARTMENTS.items()]

    def queryset(self, request, queryset):
        return queryset.filter(departement=self.value()) if self.value() else queryset


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


@admin.register(Lead)
class LeadAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "status",
        "product_type",
        "account",
        "departement",
        "nom",
        "phone",
        "form_code",
        "reasons",
    ]
    list_filter = [
        "status",
        RejectedFilter,
        "product_type",
        "account",
        DepartmentFilter,
        "source",
        "created_at",
    ]
    list_select_related = ["product_type", "account"]
    # Exact matches only, so every search is an index lookup even at millions of rows.
    search_fields = ["=phone", "=email", "=nom"]
    search_help_text = _("Phone (any format), e-mail, last name or lead id.")
    show_full_result_count = False
    raw_id_fields = ["session", "form", "landing_page"]
    fieldsets = [
        (None, {"fields": ["id", "status", "reasons", "source", "created_at", "register_date"]}),
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
            {
                "fields": [
                    "type_logement",
                    "statut_occupant",
                    "surface_habitable",
                    "annee_construction",
                    "type_chauffage",
                    "facture_electricite",
                    "facture_chauffage",
                    "type_projet",
                    "delai_projet",
                    "budget",
                ]
            },
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
        (_("Consent"), {"fields": ["rgpd_consent", "newsletter"]}),
    ]

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        try:
            return queryset.filter(pk=uuid.UUID(term)), False
        except ValueError:
            pass
        phone = phone_normalize(term)
        if phone:
            return queryset.filter(phone=phone), False
        return super().get_search_results(request, queryset, term.lower() if "@" in term else term)
