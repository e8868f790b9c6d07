"""Public tracking API (SPEC §2) and public form configuration (SPEC §9).

Called from visitors' browsers: no authentication, no CSRF, CORS allow-list,
per-IP rate limits, bodies as JSON or as text/plain JSON (sendBeacon)."""

import re
import uuid

from django.conf import settings
from django.http import Http404
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

from enersolar.api import ERROR_SCHEMA, ERRORS, PublicAPIView
from enersolar.france import DEPARTMENTS
from enersolar.http import client_ip
from enersolar.permissions import has_perm
from enersolar.serializers import OptionalText

from .brief import brief_build
from .filters import FormFilter
from .models import Form, LandingPage, VisitorSession
from .selectors import forms_with_stats
from .services import event_record, session_start

VISITOR_COOKIE = "_rdz_vid"
VISITOR_COOKIE_MAX_AGE = 365 * 24 * 3600


class AttributionInput(serializers.Serializer):
    lp_code = OptionalText(50)
    form_code = OptionalText(50)
    liaison_code = OptionalText(101)
    referrer = OptionalText(2000)
    user_agent = OptionalText(500)
    utm_source = OptionalText(255)
    utm_medium = OptionalText(255)
    utm_campaign = OptionalText(255)
    utm_content = OptionalText(255)
    utm_term = OptionalText(255)
    gclid = OptionalText(255)
    fbclid = OptionalText(255)


class SessionInput(AttributionInput):
    visitor_id = OptionalText(64)


class SessionOutput(serializers.Serializer):
    success = serializers.BooleanField()
    session_id = serializers.UUIDField()
    visitor_id = serializers.CharField()
    lp_code = serializers.CharField()
    form_code = serializers.CharField()
    reused = serializers.BooleanField()


_VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _visitor_id(value: str) -> str:
    """The visitor id if it is one (a UUID from the tracker, or any short
    token of URL-safe characters), else ""."""
    return value if _VISITOR_ID.fullmatch(value) else ""


class SessionStartApi(PublicAPIView):
    @extend_schema(
        operation_id="track_session",
        tags=["public tracking"],
        request=SessionInput,
        responses={200: SessionOutput, **ERRORS},
        summary="Open (or reuse within 30 min) a visitor session",
    )
    def post(self, request):
        data = self.validated(SessionInput, request)
        # It goes into a cookie: only what a header can carry, else a new one.
        visitor_id = (
            _visitor_id(data["visitor_id"])
            or _visitor_id(request.COOKIES.get(VISITOR_COOKIE, ""))
            or str(uuid.uuid4())
        )
        session, reused = session_start(
            visitor_id=visitor_id,
            data=data,
            ip=client_ip(request),
            user_agent=self.user_agent(request),
        )
        response = Response(
            {
                "success": True,
                "session_id": str(session.id),
                "visitor_id": visitor_id,
                "lp_code": session.lp_code,
                "form_code": session.form_code,
                "reused": reused,
            }
        )
        if request.COOKIES.get(VISITOR_COOKIE) != visitor_id:
            response.set_cookie(
                VISITOR_COOKIE,
                visitor_id,
                max_age=VISITOR_COOKIE_MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response


class EventInput(AttributionInput):
    session_id = serializers.UUIDField()
    event_type = serializers.RegexField(r"^[a-z0-9_]{1,50}$", max_length=50)
    data = serializers.DictField(required=False, default=dict)


class LpVisitInput(AttributionInput):
    session_id = serializers.UUIDField()


class EventOutput(serializers.Serializer):
    success = serializers.BooleanField()
    event_id = serializers.IntegerField()
    duplicate = serializers.BooleanField()


def _session_or_404(session_id) -> VisitorSession:
    session = VisitorSession.objects.filter(pk=session_id).first()
    if session is None:
        raise Http404("Unknown session_id")
    return session


class EventApi(PublicAPIView):
    @extend_schema(
        operation_id="track_event",
        tags=["public tracking"],
        request=EventInput,
        responses={200: EventOutput, 404: OpenApiResponse(ERROR_SCHEMA), **ERRORS},
        summary="Record an event (lp_visit, cta_click, form_start once per session)",
    )
    def post(self, request):
        data = self.validated(EventInput, request)
        return self.record(request, data, data["event_type"])

    def record(self, request, data, event_type):
        event, created = event_record(
            session=_session_or_404(data["session_id"]),
            event_type=event_type,
            data=data,
            ip=client_ip(request),
            user_agent=self.user_agent(request),
        )
        return Response({"success": True, "event_id": event.id, "duplicate": not created})


class LpVisitApi(EventApi):
    @extend_schema(
        operation_id="track_lp_visit",
        tags=["public tracking"],
        request=LpVisitInput,
        responses={200: EventOutput, 404: OpenApiResponse(ERROR_SCHEMA), **ERRORS},
        summary="Record the landing-page visit (once per session; first touch UTM)",
    )
    def post(self, request):
        return self.record(request, self.validated(LpVisitInput, request), "lp_visit")


class PublicFormOutput(serializers.Serializer):
    success = serializers.BooleanField()
    form_code = serializers.CharField()
    form_id = serializers.IntegerField()
    name = serializers.CharField()
    product_type = serializers.CharField()
    lp_code = serializers.CharField()
    liaison_code = serializers.CharField()
    redirect_url = serializers.CharField()
    conversion_mode = serializers.CharField()
    aid_maprimerenov = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    aid_cee = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    account = serializers.DictField()


def _public_form(form: Form) -> dict:
    account = form.account
    return {
        "success": True,
        "form_code": form.code,
        "form_id": form.pk,
        "name": form.name,
        "product_type": form.product_type.code,
        "lp_code": form.landing_page.code,
        "liaison_code": form.liaison_code,
        "redirect_url": form.redirect_url or account.redirect_url,
        "conversion_mode": form.conversion_mode,
        "aid_maprimerenov": form.aid_maprimerenov,
        "aid_cee": form.aid_cee,
        "account": {
            "name": account.name,
            "logo_url": account.logo_url,
            "secondary_logo_url": account.secondary_logo_url,
            "legal_notice": account.legal_notice,
            "privacy_text": account.privacy_text,
        },
    }


def _active_forms():
    return Form.objects.filter(status=Form.Status.ACTIVE).select_related(
        "account", "product_type", "landing_page"
    )


class PublicFormApi(PublicAPIView):
    @extend_schema(
        operation_id="public_form",
        tags=["public config"],
        responses={200: PublicFormOutput, 404: OpenApiResponse(ERROR_SCHEMA), 429: ERRORS[429]},
        summary="Public configuration of an active form (by code or id)",
    )
    def get(self, request, code: str):
        lookup = {"pk": int(code)} if code.isascii() and code.isdigit() else {"code": code}
        form = _active_forms().filter(**lookup).first()
        if form is None and not code.isdigit():
            # An imported form, asked for by its legacy id (old landing pages).
            form = _active_forms().filter(legacy_id=code.strip().lower()).first()
        if form is None:
            raise Http404("Unknown or archived form")
        return Response(_public_form(form))


class PublicFormByLandingPageApi(PublicAPIView):
    @extend_schema(
        operation_id="public_form_by_lp",
        tags=["public config"],
        responses={200: PublicFormOutput, 404: OpenApiResponse(ERROR_SCHEMA), 429: ERRORS[429]},
        summary="Public configuration of the form linked to a landing page",
    )
    def get(self, request, lp_code: str):
        landing_page = LandingPage.objects.filter(code=lp_code).first()
        form = (
            landing_page
            and _active_forms().filter(landing_page=landing_page).order_by("-id").first()
        )
        if not form:
            raise Http404("Unknown landing page or no active form")
        return Response(_public_form(form))


class DepartmentsApi(PublicAPIView):
    @extend_schema(
        operation_id="public_departements",
        tags=["public config"],
        responses={
            200: inline_serializer(
                "Departements",
                {
                    "success": serializers.BooleanField(),
                    "departements": serializers.ListField(child=serializers.DictField()),
                },
            ),
            429: ERRORS[429],
        },
        summary="Metropolitan departments with their names",
    )
    def get(self, request):
        return Response(
            {
                "success": True,
                "departements": [{"code": c, "nom": n} for c, n in DEPARTMENTS.items()],
            }
        )


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
    finished = serializers.IntegerField(help_text="Leads since the reset (no double submits).")
    conversion = serializers.DecimalField(
        max_digits=9,
        decimal_places=1,
        allow_null=True,
        help_text="finished / started × 100; null when nobody started.",
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
        "conversion since the last reset)",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
