"""Staff billing API (SPEC §6)."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from enersolar.api_codes import ApiError
from enersolar.permissions import has_perm
from leads.models import Lead
from routing.models import Order

from .models import BudgetAlert, BudgetTransaction
from .selectors import (
    billable_deliveries,
    budget_ledger,
    budget_level,
    cross_crm_summary,
    prepaid_orders,
)
from .services import BillingError, budget_topup, lead_return

CanViewBilling = has_perm("billing.view_statement")

PERIOD_PARAMETERS = [
    OpenApiParameter(
        "period", enum=["7d", "30d"], required=False, description="Last 7 or 30 days (default 30d)."
    ),
    OpenApiParameter("from", str, required=False, description="First day, YYYY-MM-DD."),
    OpenApiParameter("to", str, required=False, description="Last day (included), YYYY-MM-DD."),
]


def _period(params) -> tuple[datetime, datetime]:
    """`period=7d|30d`, or `from`/`to` dates (Paris days, `to` included)."""
    if params.get("from") or params.get("to"):
        first, last = parse_date(params.get("from", "")), parse_date(params.get("to", ""))
        if not first or not last or last < first:
            raise serializers.ValidationError(
                {"from": _("Give both from and to as YYYY-MM-DD, from ≤ to.")}
            )
        tz = timezone.get_default_timezone()
        return (
            datetime.combine(first, time.min, tzinfo=tz),
            datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz),
        )
    days = {"7d": 7, "30d": 30}.get(params.get("period", "30d"))
    if days is None:
        raise serializers.ValidationError({"period": _("One of 7d, 30d (or from/to).")})
    end = timezone.now()
    return end - timedelta(days=days), end


def _summary_data(summary) -> dict:
    return {
        "from": summary.start,
        "to": summary.end,
        "crms": [
            {
                "crm": b.slug,
                "name": b.name,
                # Money as strings, like every DRF decimal: no float rounding.
                "receivable": f"{b.receivable:.2f}",
                "payable": f"{b.payable:.2f}",
                "net": f"{b.net:.2f}",
                "leads_sold": b.leads_sold,
                "leads_bought": b.leads_bought,
            }
            for b in summary.crms
        ],
        "pairs": [{**p, "amount": f"{p['amount']:.2f}"} for p in summary.pairs],
    }


SUMMARY_SCHEMA = inline_serializer(
    "CrossCRMSummary",
    {
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "crms": serializers.ListField(child=serializers.DictField()),
        "pairs": serializers.ListField(child=serializers.DictField()),
    },
)


class CrossCRMSummaryApi(APIView):
    permission_classes = [CanViewBilling]

    @extend_schema(tags=["billing"], parameters=PERIOD_PARAMETERS, responses=SUMMARY_SCHEMA)
    def get(self, request):
        start, end = _period(request.query_params)
        return Response(_summary_data(cross_crm_summary(start, end)))


class CrossCRMLeadSerializer(serializers.Serializer):
    lead_id = serializers.UUIDField(source="pk")
    delivered_at = serializers.DateTimeField()
    creditor = serializers.CharField(source="origin_crm.slug")
    debtor = serializers.CharField(source="crm.slug")
    product = serializers.CharField(source="lead.product_type.code", default="")
    departement = serializers.CharField(source="lead.departement")
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2)


class CrossCRMApi(APIView):
    permission_classes = [CanViewBilling]

    @extend_schema(
        tags=["billing"],
        parameters=[*PERIOD_PARAMETERS, OpenApiParameter("page", int, required=False)],
        responses=SUMMARY_SCHEMA,
    )
    def get(self, request):
        start, end = _period(request.query_params)
        data = _summary_data(cross_crm_summary(start, end))
        leads = (
            billable_deliveries(start, end)
            .select_related("origin_crm", "crm", "lead__product_type")
            .order_by("-delivered_at", "pk")
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(leads, request, view=self)
        data["leads"] = {
            "count": paginator.page.paginator.count,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "results": CrossCRMLeadSerializer(page, many=True).data,
        }
        return Response(data)


class LeadReturnInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class LeadReturnApi(APIView):
    permission_classes = [has_perm("billing.add_leadreturn")]

    @extend_schema(
        tags=["billing"],
        request=LeadReturnInput,
        responses=inline_serializer(
            "LeadReturned",
            {"success": serializers.BooleanField(), "status": serializers.CharField()},
        ),
    )
    def post(self, request, lead_id):
        lead = get_object_or_404(Lead, pk=lead_id)
        data = LeadReturnInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            lead_return(lead=lead, reason=data.validated_data["reason"], user=request.user)
        except BillingError as exc:
            raise ApiError(exc.code, status.HTTP_409_CONFLICT, **exc.params) from exc
        return Response({"success": True, "code": "lead_returned", "status": Lead.Status.RETURNED})


# --- Prepaid budgets: /api/billing/budgets ----------------------------------------------

CanViewBudgets = has_perm("billing.view_budgettransaction")
CanTopUp = has_perm("billing.add_budgettransaction")


class BudgetOutput(serializers.ModelSerializer):
    order_id = serializers.IntegerField(source="pk")
    crm = serializers.CharField(source="crm.slug")
    product_type = serializers.CharField(source="product_type.code")
    level = serializers.SerializerMethodField(
        help_text="healthy, attention, warning, critical, depleted"
    )
    level_label = serializers.SerializerMethodField(help_text="The level in words (French).")

    class Meta:
        model = Order
        fields = [
            "order_id",
            "name",
            "crm",
            "product_type",
            "is_active",
            "unit_price",
            "prepaid_total",
            "prepaid_balance",
            "level",
            "level_label",
        ]

    def get_level(self, order) -> str:
        return budget_level(order)

    def get_level_label(self, order) -> str:
        return str(BudgetAlert.Level(budget_level(order)).label)


class BudgetPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class BudgetListApi(APIView):
    """Admin: the prepaid orders with their balance and level."""

    permission_classes = [CanViewBudgets]

    @extend_schema(
        operation_id="budgets_list",
        tags=["billing"],
        parameters=[
            OpenApiParameter(
                "level",
                enum=[level.value for level in BudgetAlert.Level],
                required=False,
                description="Only the orders at this level (repeat for several): "
                "?level=critical&level=depleted lists the low balances.",
            )
        ],
        responses=BudgetOutput(many=True),
        summary="Prepaid budgets: balance and level per order",
    )
    def get(self, request):
        levels = request.query_params.getlist("level")
        unknown = set(levels) - set(BudgetAlert.Level.values)
        if unknown:
            message = _("Unknown level: %(v)s.") % {"v": ", ".join(sorted(unknown))}
            raise serializers.ValidationError({"level": [message]})
        orders = [o for o in prepaid_orders() if not levels or budget_level(o) in levels]
        return Response(BudgetOutput(orders, many=True).data)


class LedgerEntryOutput(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display")
    created_by = serializers.CharField(source="created_by.get_username", default=None)
    lead_id = serializers.UUIDField(allow_null=True)

    class Meta:
        model = BudgetTransaction
        fields = [
            "id",
            "created_at",
            "kind",
            "kind_label",
            "amount",
            "lead_id",
            "note",
            "created_by",
        ]


class BudgetLedgerApi(APIView):
    """Admin: one order's ledger, newest first, paginated."""

    permission_classes = [CanViewBudgets]

    @extend_schema(
        operation_id="budget_ledger",
        tags=["billing"],
        responses=LedgerEntryOutput(many=True),
        summary="The prepaid ledger of an order (top-ups, consumptions, refunds)",
    )
    def get(self, request, order_id):
        order = get_object_or_404(Order, pk=order_id)
        paginator = BudgetPagination()
        page = paginator.paginate_queryset(budget_ledger(order), request, view=self)
        return paginator.get_paginated_response(LedgerEntryOutput(page, many=True).data)


class TopUpInput(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), help_text="Euros, > 0."
    )
    note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class BudgetTopUpApi(APIView):
    """Admin: add money to an order's prepaid budget."""

    permission_classes = [CanTopUp]

    @extend_schema(
        operation_id="budget_topup",
        tags=["billing"],
        request=TopUpInput,
        responses={201: BudgetOutput},
        summary="Top up an order's prepaid budget (Admin)",
        description="Writes a `topup` ledger row, raises the balance and releases the leads "
        "held for want of an order. Answers the order's new balance and level.",
    )
    def post(self, request, order_id):
        order = get_object_or_404(Order, pk=order_id)
        data = TopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            budget_topup(
                order=order,
                amount=data.validated_data["amount"],
                user=request.user,
                note=data.validated_data["note"],
            )
        except BillingError as exc:
            raise ApiError(exc.code, status.HTTP_400_BAD_REQUEST, **exc.params) from exc
        order.refresh_from_db()
        return Response(BudgetOutput(order).data, status=status.HTTP_201_CREATED)
