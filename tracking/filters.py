"""The forms' filters, one set for the admin's cards and GET /api/forms."""

from django.db.models import Q
from django_filters import rest_framework as filters

from .models import Form


class FormFilter(filters.FilterSet):
    product = filters.CharFilter(
        field_name="product_type__code", lookup_expr="iexact", help_text="Product code: PV, PAC…"
    )
    status = filters.ChoiceFilter(choices=Form.Status.choices)
    account = filters.NumberFilter(field_name="account_id", help_text="Account id.")
    q = filters.CharFilter(
        method="filter_search",
        help_text="Part of the form's code or name, or of its landing page's code.",
    )

    class Meta:
        model = Form
        fields = ["product", "status", "account", "q"]

    def filter_search(self, queryset, name, value):
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(
            Q(code__icontains=term)
            | Q(name__icontains=term)
            | Q(landing_page__code__icontains=term)
        )
