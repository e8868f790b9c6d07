"""HTTP plumbing for the public API: client IP, body limit, errors, throttles."""

import ipaddress
import logging
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

# Paths open to the internet, where the body limit applies.
PUBLIC_API_PREFIXES = ("/api/public/", "/api/v1/")


@lru_cache(maxsize=1)
def _trusted_networks() -> tuple:
    return tuple(ipaddress.ip_network(n, strict=False) for n in settings.TRUSTED_PROXIES)


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_networks())


def client_ip(request) -> str | None:
    """The visitor's address. X-Forwarded-For is believed only when the peer is
    a trusted proxy, and read from the right: the first hop that is not one of
    our proxies is the client (anything left of it could be forged)."""
    remote = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not remote or not forwarded or not _is_trusted(remote):
        return remote
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not _is_trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote
    return remote


class PublicBodyLimitMiddleware:
    """413 before any parsing when a public request announces too big a body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(PUBLIC_API_PREFIXES):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.PUBLIC_MAX_BODY_BYTES:
                return JsonResponse(
                    {
                        "success": False,
                        "error": f"Request body too large (limit {settings.PUBLIC_MAX_BODY_BYTES} "
                        "bytes).",
                    },
                    status=413,
                )
        return self.get_response(request)


class PlainTextJSONParser(JSONParser):
    """navigator.sendBeacon sends JSON as text/plain; parse it as JSON."""

    media_type = "text/plain"


def api_exception_handler(exc, context):
    """Every error as JSON `{"success": false, "error": …}`; database outages
    answer 503 (the transaction was rolled back: nothing half-written)."""
    if isinstance(exc, DatabaseError):
        logger.exception("database unavailable during %s", context["request"].path)
        return Response(
            {"success": False, "error": "Service temporarily unavailable, please retry."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "30"},
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        names = ", ".join(fields)
        response.data = {"success": False, "error": f"Invalid fields: {names}", "fields": fields}
    elif isinstance(exc, exceptions.ParseError):
        response.data = {"success": False, "error": f"Body is not valid JSON: {exc.detail}"}
    else:
        detail = response.data.get("detail", exc) if isinstance(response.data, dict) else exc
        response.data = {"success": False, "error": str(detail)}
    return response


class PublicRateThrottle(SimpleRateThrottle):
    """Per-client-IP rate limit that fails open: a cache outage must never
    turn away a lead, so errors from the cache let the request through."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache failure means "let it through"
            logger.warning("rate-limit cache unavailable; request allowed", exc_info=True)
            return True


class TrackingRateThrottle(PublicRateThrottle):
    scope = "public_tracking"


class LeadRateThrottle(PublicRateThrottle):
    scope = "public_leads"


class PartnerRateThrottle(PublicRateThrottle):
    scope = "partner"


class AdminLoginThrottle(PublicRateThrottle):
    """Admin login attempts per address, whatever the usernames tried: django-axes
    locks one username from one address; this stops one address from trying
    a few passwords on every username (password spraying)."""

    scope = "admin_login"


class TokenFailureThrottle(PublicRateThrottle):
    """Failed token authentications per address (staff tokens and partner
    keys alike), like the admin login. Only failures are counted, so a good
    token costs nothing more; a cache outage lets the request through."""

    scope = "token_failures"

    def get_rate(self):
        return self.THROTTLE_RATES.get(self.scope)  # none set: no limit


def token_authenticate(request, authenticate):
    """`authenticate()`, with each AuthenticationFailed counted for the
    address: past TokenFailureThrottle's rate, the answer is 429, not 401."""
    try:
        return authenticate()
    except exceptions.AuthenticationFailed:
        throttle = TokenFailureThrottle()
        if not throttle.allow_request(request, None):
            raise exceptions.Throttled(
                wait=throttle.wait(), detail="Too many failed authentications from your address."
            ) from None
        raise


class LenientContentNegotiation(DefaultContentNegotiation):
    """Public bodies are JSON whatever the label (beacons, old scripts, or no
    Content-Type at all): fall back to the JSON parser instead of a 415."""

    def select_parser(self, request, parsers):
        parser = super().select_parser(request, parsers)
        return parser or JSONParser()
