"""Staff API of forms: the brief of a form, and the forms with their
counters (the admin's cards, as JSON). Token or session authentication, with
the forms' view permission."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from enersolar.api import ERROR_SCHEMA
from enersolar.permissions import has_perm

from .brief import brief_build
from .filters import FormFilter
from .models import Form
from .selectors import forms_with_stats


class MiniBriefOutput(serializers.Serializer):
    account = serializers.CharField()
    form_code = serializers.CharField()
    form_name = serializers.CharField()
    legacy_form_id = serializers.CharField(
        help_text="The legacy system's id of an imported form, accepted as form_code; else empty."
    )
    product_type = serializers.CharField()
    lp_code = serializers.CharField()
    lp_url = serializers.CharField()
    liaison_code = serializers.CharField()
    logo_url = serializers.CharField()
    secondary_logo_url = serializers.CharField()
    gtm_head = serializers.CharField()
    gtm_body = serializers.CharField()
    gtm_conversion = serializers.CharField()
    legal_notice = serializers.CharField()
    privacy_text = serializers.CharField()
    redirect_url = serializers.CharField()
    conversion_mode = serializers.ChoiceField(choices=Form.ConversionMode.choices)
    gtm_event = serializers.CharField()
    aids = serializers.DictField(child=serializers.FloatField(allow_null=True))
    integration = serializers.DictField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())


class BriefOutput(serializers.Serializer):
    form_id = serializers.IntegerField()
    form_code = serializers.CharField()
    api_base = serializers.CharField()
    mode_a = inline_serializer(
        "BriefModeA", {"lp_script": serializers.CharField(), "form_script": serializers.CharField()}
    )
    mode_b = inline_serializer("BriefModeB", {"script": serializers.CharField()})
    mini_brief = MiniBriefOutput()


class FormBriefApi(APIView):
    """Staff: the brief of one form (session or token auth)."""

    permission_classes = [has_perm("tracking.view_form")]

    @extend_schema(
        operation_id="form_brief",
        tags=["forms"],
        parameters=[
            OpenApiParameter(
                "form_url",
                str,
                required=False,
                description="URL of the form page (mode A): links to it count as CTAs.",
            )
        ],
        responses={200: BriefOutput, 403: OpenApiResponse(ERROR_SCHEMA), 404: ERROR_SCHEMA},
        summary="Tracking scripts (modes A and B) and mini brief of a form",
    )
    def get(self, request, pk: int):
        form = get_object_or_404(
            Form.objects.select_related("account", "product_type", "landing_page"), pk=pk
        )
        form_url = request.query_params.get("form_url", "")[:500]
        return Response(brief_build(form, form_url=form_url))


# --- Staff: the forms with their counters (the admin's cards, as JSON) -----------------------


class FormAccountOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class FormLandingPageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    url = serializers.CharField()


class FormStatsOutput(serializers.Serializer):
    started = serializers.IntegerField(help_text="Sessions with a form_start since the reset.")
    finished = serializers.IntegerField(
        help_text="Of the started sessions, those that left an accepted lead of the form "
        "(not rejected at intake)."
    )
    conversion = serializers.DecimalField(
        max_digits=9,
        decimal_places=1,
        allow_null=True,
        help_text="finished / started × 100 (≤ 100); null when nobody started.",
    )
    direct = serializers.IntegerField(
        help_text="Accepted leads of the form whose session did not start it (no form_start): "
        "apart, not in the conversion."
    )
    since = serializers.DateTimeField(
        source="stats_reset_at", allow_null=True, help_text="Last reset; null: never."
    )


class FormListOutput(serializers.ModelSerializer):
    product_type = serializers.CharField(source="product_type.code")
    account = FormAccountOutput()
    landing_page = FormLandingPageOutput()
    liaison_code = serializers.CharField()
    # The form annotated by forms_with_stats(): its counters, grouped.
    stats = FormStatsOutput(source="*")

    class Meta:
        model = Form
        fields = [
            "id",
            "code",
            "name",
            "product_type",
            "status",
            "account",
            "landing_page",
            "liaison_code",
            "conversion_mode",
            "allow_cross_crm",
            "created_at",
            "stats",
        ]


class FormListApi(generics.ListAPIView):
    """Staff: the forms, with the same counters as the admin's cards."""

    permission_classes = [has_perm("tracking.view_form")]
    serializer_class = FormListOutput
    filterset_class = FormFilter

    def get_queryset(self):
        forms = Form.objects.select_related("product_type", "account", "landing_page")
        return forms_with_stats(forms).order_by("code")

    @extend_schema(
        operation_id="forms_list",
        tags=["forms"],
        responses={
            200: FormListOutput(many=True),
            400: OpenApiResponse(ERROR_SCHEMA),
            401: OpenApiResponse(ERROR_SCHEMA),
            403: OpenApiResponse(ERROR_SCHEMA),
        },
        summary="Forms with their codes, landing page and counters (started, finished, "
        "conversion, direct since the last reset)",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
