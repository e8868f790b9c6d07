"""Staff API for the lead list and a lead's page: GET /api/leads (filters on
what routing decided: target CRM, cross-CRM) and GET /api/leads/<id>."""

from datetime import datetime, time, timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from enersolar.api import ERROR_SCHEMA
from enersolar.models import ActivityLog
from enersolar.permissions import has_perm
from leads.models import Lead
from leads.selectors import (
    lead_history,
    leads_in_department,
    leads_of_campaign,
    leads_of_origin_crm,
    leads_with_email,
    leads_with_phone,
)

from .models import Delivery, DeliveryAttempt
from .selectors import leads_cross_crm, leads_routed_to, leads_with_delivery

CanViewLeads = has_perm("leads.view_lead")


# --- GET /api/leads -----------------------------------------------------------------------


def _paris_midnight(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


class LeadFilter(filters.FilterSet):
    # distinct=False: SELECT DISTINCT would sort every matching row (all
    # columns) before the page is cut, seconds at a million leads.
    status = filters.MultipleChoiceFilter(
        choices=Lead.Status.choices,
        distinct=False,
        help_text="Repeat for several: ?status=failed&status=queued",
    )
    product = filters.CharFilter(
        field_name="product_type__code", lookup_expr="iexact", help_text="PV, PAC, ITE…"
    )
    account = filters.NumberFilter(field_name="account_id", help_text="Account id.")
    origin_crm = filters.CharFilter(
        method="filter_origin_crm", help_text="Slug of the account's origin CRM."
    )
    target_crm = filters.CharFilter(
        method="filter_target_crm", help_text="Slug of the CRM the lead was routed to."
    )
    departement = filters.CharFilter(method="filter_departement", help_text="01…95, 2A, 2B.")
    date_from = filters.DateFilter(
        method="filter_date_from", help_text="Created on or after this day (Paris), YYYY-MM-DD."
    )
    date_to = filters.DateFilter(
        method="filter_date_to", help_text="Created on or before this day (Paris), YYYY-MM-DD."
    )
    cross_crm = filters.BooleanFilter(
        method="filter_cross_crm",
        help_text="Delivered to a CRM other than the lead's origin CRM (whatever the routing "
        "source), or not.",
    )
    phone = filters.CharFilter(method="filter_phone", help_text="Any format: 06 12 34 56 78…")
    email = filters.CharFilter(method="filter_email")
    utm_campaign = filters.CharFilter(
        method="filter_utm_campaign", help_text="The campaign (`utm_campaign`), exact."
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    # The admin's lead filters, through the same selectors.
    def filter_origin_crm(self, queryset, name, value):
        return leads_of_origin_crm(queryset, crm_slug=value)

    def filter_target_crm(self, queryset, name, value):
        return leads_routed_to(queryset, crm_slug=value)

    def filter_departement(self, queryset, name, value):
        return leads_in_department(queryset, department=value)

    def filter_date_from(self, queryset, name, value):
        return queryset.filter(created_at__gte=_paris_midnight(value))

    def filter_date_to(self, queryset, name, value):
        return queryset.filter(created_at__lt=_paris_midnight(value + timedelta(days=1)))

    def filter_cross_crm(self, queryset, name, value):
        return leads_cross_crm(queryset, cross=value)

    def filter_phone(self, queryset, name, value):
        return leads_with_phone(queryset, phone=value)

    def filter_email(self, queryset, name, value):
        return leads_with_email(queryset, email=value)

    def filter_utm_campaign(self, queryset, name, value):
        return leads_of_campaign(queryset, utm_campaign=value)


class LeadCursorPagination(CursorPagination):
    """Newest first, by keyset: no COUNT(*) and no OFFSET, so a page costs
    the same at the first lead as at the ten millionth."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class LeadDeliveryOutput(serializers.Serializer):
    target_crm = serializers.CharField(source="crm.slug")
    origin_crm = serializers.CharField(source="origin_crm.slug", allow_null=True, default=None)
    routing_source = serializers.ChoiceField(
        source="source",
        choices=Delivery.Source.choices,
        help_text="How routing chose the CRM (`cross_crm`: the fallback), not the cross-CRM fact.",
    )
    cross_crm = serializers.BooleanField(
        source="is_cross_crm", help_text="Delivered to a CRM other than the origin CRM."
    )
    state = serializers.ChoiceField(choices=Delivery.State.choices)
    attempts = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    routed_at = serializers.DateTimeField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()


class LeadListOutput(serializers.ModelSerializer):
    product_type = serializers.CharField(source="product_type.code", default=None)
    account = serializers.CharField(source="account.name", default=None)
    account_id = serializers.IntegerField(allow_null=True)
    origin_crm = serializers.CharField(
        source="account.origin_crm.slug", default=None, help_text="The account's CRM."
    )
    delivery = serializers.SerializerMethodField()

    class Meta:
        model = Lead
        fields = [
            "id",
            "created_at",
            "status",
            "reasons",
            "source",
            "product_type",
            "account",
            "account_id",
            "origin_crm",
            "form_code",
            "lp_code",
            "liaison_code",
            "civilite",
            "nom",
            "prenom",
            "phone",
            "email",
            "departement",
            "code_postal",
            "ville",
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "quality_tier",
            "delivery",
        ]

    @extend_schema_field(LeadDeliveryOutput(allow_null=True))
    def get_delivery(self, lead) -> dict | None:
        # Joined by leads_with_delivery(): no query here, None when never routed.
        delivery = getattr(lead, "delivery", None)
        return LeadDeliveryOutput(delivery).data if delivery is not None else None


class LeadListApi(generics.ListAPIView):
    """Staff: the leads, newest first, filtered; cursor-paginated."""

    permission_classes = [CanViewLeads]
    serializer_class = LeadListOutput
    filterset_class = LeadFilter
    pagination_class = LeadCursorPagination
    queryset = leads_with_delivery()

    @extend_schema(
        operation_id="leads_list",
        tags=["leads"],
        responses={
            200: LeadListOutput(many=True),
            400: OpenApiResponse(ERROR_SCHEMA),
            401: OpenApiResponse(ERROR_SCHEMA),
            403: OpenApiResponse(ERROR_SCHEMA),
        },
        summary="Leads with their routing and delivery, filtered, newest first",
        description="Cursor pagination: follow `next` (no total count, so that a page costs "
        "the same whatever the table's size). Phones and e-mails are given in full: the "
        "permission `leads.view_lead` already shows them in the admin's lead list.",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- GET /api/leads/<id> -----------------------------------------------------------------


class LeadAttemptOutput(serializers.ModelSerializer):
    crm = serializers.CharField(source="crm.slug")

    class Meta:
        model = DeliveryAttempt
        fields = [
            "attempted_at",
            "crm",
            "outcome",
            "http_status",
            "duration_ms",
            "error",
            "response_excerpt",
        ]


class LeadHistoryOutput(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username", default=None)
    action_label = serializers.CharField(source="get_action_display")

    class Meta:
        model = ActivityLog
        fields = ["created_at", "user", "action", "action_label", "details"]


class LeadDetailOutput(LeadListOutput):
    attempts = serializers.SerializerMethodField(
        help_text="Every POST to a buyer CRM, oldest first."
    )
    history = serializers.SerializerMethodField(
        help_text="The lead's journal, newest first: corrections (`details.correction`: "
        "old → new per field), Relancer, returns."
    )

    class Meta(LeadListOutput.Meta):
        fields = [
            *LeadListOutput.Meta.fields,
            "phone_raw",
            "adresse",
            "register_date",
            "attempts",
            "history",
        ]

    @extend_schema_field(LeadAttemptOutput(many=True))
    def get_attempts(self, lead) -> list:
        attempts = DeliveryAttempt.objects.filter(delivery_id=lead.pk).select_related("crm")
        return LeadAttemptOutput(attempts, many=True).data

    @extend_schema_field(LeadHistoryOutput(many=True))
    def get_history(self, lead) -> list:
        return LeadHistoryOutput(lead_history(lead), many=True).data


class LeadDetailApi(APIView):
    """Staff: one lead, with its routing, every delivery attempt and its history."""

    permission_classes = [CanViewLeads]

    @extend_schema(
        operation_id="lead_detail",
        tags=["leads"],
        responses={
            200: LeadDetailOutput,
            401: OpenApiResponse(ERROR_SCHEMA),
            403: OpenApiResponse(ERROR_SCHEMA),
            404: OpenApiResponse(ERROR_SCHEMA),
        },
        summary="One lead with its delivery attempts and history",
    )
    def get(self, request, lead_id):
        lead = get_object_or_404(leads_with_delivery(), pk=lead_id)
        return Response(LeadDetailOutput(lead).data)
