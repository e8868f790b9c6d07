"""Staff API for the delivery queue, lead retries and the verification (the
lead list and a lead's page are in lead_apis.py)."""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from enersolar.api_codes import ApiError
from enersolar.models import ActivityLog
from enersolar.permissions import has_perm
from enersolar.services import journal_record
from leads.models import Lead

from .models import Delivery, VerificationReport
from .selectors import queue_stats
from .services.queue import lead_retry, queue_process, queue_retry_exhausted
from .services.verification import verification_next_run, verification_run
from .tasks import dispatch_leads

CanViewQueue = has_perm("routing.view_delivery")
CanManageQueue = has_perm("routing.manage_queue")


class QueueStatsApi(APIView):
    permission_classes = [CanViewQueue]

    @extend_schema(
        tags=["queue"],
        responses=inline_serializer(
            "QueueStats", {s: serializers.IntegerField() for s in [*Delivery.State.values, "total"]}
        ),
    )
    def get(self, request):
        stats = queue_stats()
        return Response({**stats.counts, "oldest_pending_due": stats.oldest_pending_due})


class QueueItemSerializer(serializers.ModelSerializer):
    lead_id = serializers.UUIDField(source="lead.pk")
    lead_status = serializers.CharField(source="lead.status")
    crm = serializers.CharField(source="crm.slug")
    retries = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = [
            "lead_id",
            "lead_status",
            "crm",
            "state",
            "attempts",
            "retries",
            "next_attempt_at",
            "last_error",
            "routed_at",
            "delivered_at",
        ]

    def get_retries(self, obj) -> int:
        return max(obj.attempts - 1, 0)


class QueueItemsApi(generics.ListAPIView):
    permission_classes = [CanViewQueue]
    serializer_class = QueueItemSerializer

    @extend_schema(
        tags=["queue"],
        parameters=[OpenApiParameter("status", enum=Delivery.State.values, required=False)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        items = Delivery.objects.select_related("lead", "crm").order_by(
            "next_attempt_at", "routed_at"
        )
        state = self.request.query_params.get("status")
        if state:
            if state not in Delivery.State.values:
                raise serializers.ValidationError(
                    {
                        "status": _("One of %(values)s.")
                        % {"values": ", ".join(Delivery.State.values)}
                    }
                )
            items = items.filter(state=state)
        return items


class QueueProcessApi(APIView):
    permission_classes = [CanManageQueue]

    @extend_schema(
        tags=["queue"],
        request=None,
        responses=inline_serializer(
            "QueueRun",
            {
                "released": serializers.IntegerField(),
                "dispatched": serializers.IntegerField(),
                "swept": serializers.IntegerField(),
                "expired": serializers.IntegerField(
                    help_text="Waiting leads older than LEAD_FRESHNESS_HOURS, marked expired."
                ),
            },
        ),
    )
    def post(self, request):
        run = queue_process(dispatch=dispatch_leads)
        journal_record(
            user=request.user,
            action=ActivityLog.Action.QUEUE_ACTION,
            details={"action": "process", **run.__dict__},
        )
        return Response(run.__dict__)


class QueueRetryExhaustedApi(APIView):
    permission_classes = [CanManageQueue]

    @extend_schema(
        tags=["queue"],
        request=None,
        responses=inline_serializer("RetryExhausted", {"reset": serializers.IntegerField()}),
    )
    def post(self, request):
        return Response({"reset": queue_retry_exhausted(user=request.user)})


class LeadRetryApi(APIView):
    permission_classes = [has_perm("routing.retry_lead")]

    @extend_schema(
        tags=["queue"],
        request=None,
        responses=inline_serializer(
            "LeadRetry",
            {
                "success": serializers.BooleanField(),
                "code": serializers.CharField(default="lead_requeued"),
                "status": serializers.CharField(),
            },
        ),
    )
    def post(self, request, lead_id):
        lead = get_object_or_404(Lead, pk=lead_id)
        if not lead_retry(lead=lead, user=request.user):
            raise ApiError("lead_not_resendable", status.HTTP_409_CONFLICT, status=lead.status)
        return Response({"success": True, "code": "lead_requeued", "status": Lead.Status.PENDING})


class VerificationReportSerializer(serializers.ModelSerializer):
    class Meta:
        model = VerificationReport
        fields = "__all__"


class VerificationRunApi(APIView):
    permission_classes = [has_perm("routing.run_verification")]

    @extend_schema(tags=["verification"], request=None, responses=VerificationReportSerializer)
    def post(self, request):
        report = verification_run(triggered_by=request.user.get_username(), user=request.user)
        return Response(VerificationReportSerializer(report).data)


class VerificationStatusApi(APIView):
    permission_classes = [has_perm("routing.view_verificationreport")]

    @extend_schema(
        tags=["verification"],
        responses=inline_serializer(
            "VerificationStatus",
            {
                "last_run": VerificationReportSerializer(allow_null=True),
                "next_run": serializers.DateTimeField(),
            },
        ),
    )
    def get(self, request):
        last = VerificationReport.objects.first()
        return Response(
            {
                "last_run": VerificationReportSerializer(last).data if last else None,
                "next_run": verification_next_run(timezone.now()),
            }
        )


class VerificationReportsApi(generics.ListAPIView):
    permission_classes = [has_perm("routing.view_verificationreport")]
    serializer_class = VerificationReportSerializer
    queryset = VerificationReport.objects.all()

    @extend_schema(tags=["verification"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
