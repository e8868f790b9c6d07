"""Partner authentication by account API key (`Authorization: Token <key>` or
`X-API-Key: <key>`)."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .api_codes import api_message
from .models import ApiKey
from .services import api_key_digest

# last_used_at is written at most once a minute per key: one UPDATE per request
# would make every partner request pay a write for a display value.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_authenticate(request, authenticate):
    # enersolar.http imports DRF's views, which load these classes (a cycle).
    from .http import token_authenticate as throttled

    return throttled(request, authenticate)


class ThrottledTokenAuthentication(authentication.TokenAuthentication):
    """DRF's staff tokens, with failed attempts limited per address."""

    def authenticate(self, request):
        parent = super().authenticate
        return token_authenticate(request, lambda: parent(request))


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        return token_authenticate(request, lambda: self._authenticate(request))

    def _authenticate(self, request):
        raw_key = request.META.get("HTTP_X_API_KEY", "").strip()
        if not raw_key:
            parts = request.META.get("HTTP_AUTHORIZATION", "").split()
            if len(parts) == 2 and parts[0].lower() in ("token", "bearer"):
                raw_key = parts[1]
        if not raw_key:
            raise exceptions.NotAuthenticated(api_message("missing_api_key"), "missing_api_key")
        api_key = (
            ApiKey.objects.select_related("account")
            .filter(key_hash=api_key_digest(raw_key), revoked_at__isnull=True)
            .first()
        )
        if api_key is None:
            raise exceptions.AuthenticationFailed(api_message("invalid_api_key"), "invalid_api_key")
        now = timezone.now()
        if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return (None, api_key)

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """The partner key in the OpenAPI schema: either header will do."""

    target_class = ApiKeyAuthentication
    name = ["partnerApiKey", "partnerToken"]

    def get_security_requirement(self, auto_schema):
        return [{"partnerApiKey": []}, {"partnerToken": []}]  # one or the other

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Token <key>`",
            },
        ]
