"""The public API's frame: the base view of every unauthenticated endpoint
(tracking, forms, lead intake), its error format and the error schema the
OpenAPI documentation shows. Feature apps import it from here."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from .api_codes import MESSAGES
from .http import (
    LenientContentNegotiation,
    PlainTextJSONParser,
    PublicJSONParser,
    TrackingRateThrottle,
)

ERROR_SCHEMA = inline_serializer(
    "Error",
    {
        "success": serializers.BooleanField(default=False),
        "code": serializers.ChoiceField(
            choices=sorted(MESSAGES),
            help_text="Stable machine code of the answer: test this, never the message.",
        ),
        "error": serializers.CharField(help_text="The message, in French, for people."),
        "fields": serializers.DictField(
            required=False,
            help_text="With `invalid_fields`: each invalid field and its messages.",
        ),
    },
)
ERRORS = {
    400: OpenApiResponse(
        ERROR_SCHEMA,
        description="Missing/invalid field or broken body: `invalid_fields`, `invalid_json`, "
        "`json_too_deep`, `invalid_utf8`, `body_not_object`, `invalid_path`, "
        "`value_not_storable`.",
    ),
    413: OpenApiResponse(ERROR_SCHEMA, description="Body too large: `body_too_large`."),
    429: OpenApiResponse(
        ERROR_SCHEMA,
        description="Too many requests from this IP: `throttled`, "
        "`too_many_failed_authentications`.",
    ),
    503: OpenApiResponse(
        ERROR_SCHEMA, description="Database unavailable; retry: `service_unavailable`."
    ),
}


# Called from visitors' browsers: no authentication, no CSRF, per-IP rate limits,
# bodies as JSON or as text/plain JSON (sendBeacon). (A comment, not a docstring:
# drf-spectacular would print a docstring as the description of every endpoint.)
class PublicAPIView(APIView):
    authentication_classes: list = []  # no session auth means no CSRF check
    permission_classes = [AllowAny]
    throttle_classes = [TrackingRateThrottle]
    parser_classes = [PublicJSONParser, PlainTextJSONParser]
    content_negotiation_class = LenientContentNegotiation

    def user_agent(self, request) -> str:
        return request.META.get("HTTP_USER_AGENT", "")[:500]

    def validated(self, serializer_class, request) -> dict:
        """The body validated by `serializer_class`; a 400 with its message if not valid."""
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
