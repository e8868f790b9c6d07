"""Public tracking API (SPEC §2) and public form configuration (SPEC §9).

Called from visitors' browsers: no authentication, no CSRF, CORS allow-list,
per-IP rate limits, bodies as JSON or as text/plain JSON (sendBeacon)."""

import re
import uuid

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response

from enersolar.api import ERROR_SCHEMA, ERRORS, PublicAPIView
from enersolar.api_codes import ApiError
from enersolar.france import DEPARTMENTS
from enersolar.http import client_ip
from enersolar.serializers import OptionalText

from .models import Form, VisitorSession
from .selectors import landing_page_with_form
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
    code = serializers.CharField(help_text="`session_started` or `session_reused`.")
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
                "code": "session_reused" if reused else "session_started",
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
    code = serializers.CharField(help_text="`event_recorded` or `event_duplicate`.")
    event_id = serializers.IntegerField()
    duplicate = serializers.BooleanField()


def _session_or_404(session_id) -> VisitorSession:
    session = VisitorSession.objects.filter(pk=session_id).first()
    if session is None:
        raise ApiError("unknown_session", 404)
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
        return Response(
            {
                "success": True,
                "code": "event_recorded" if created else "event_duplicate",
                "event_id": event.id,
                "duplicate": not created,
            }
        )


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
            raise ApiError("unknown_form", 404)
        return Response(_public_form(form))


class PublicFormByLandingPageApi(PublicAPIView):
    @extend_schema(
        operation_id="public_form_by_lp",
        tags=["public config"],
        responses={200: PublicFormOutput, 404: OpenApiResponse(ERROR_SCHEMA), 429: ERRORS[429]},
        summary="Public configuration of the form a landing page serves (its chosen form)",
    )
    def get(self, request, lp_code: str):
        landing_page = landing_page_with_form(lp_code)
        form = landing_page.linked_form if landing_page else None
        if not form:
            raise ApiError("unknown_landing_page", 404)
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
