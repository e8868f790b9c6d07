"""HTTP plumbing for the public API: client IP, body limit, errors, throttles."""

import ipaddress
import json
import logging
import math
import re
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError, DataError
from django.http import JsonResponse
from django.utils import translation
from rest_framework import exceptions, status
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from .api_codes import API_LANGUAGE, api_error_body, api_message

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


def _json_error(code: str, status_code: int, **params) -> JsonResponse:
    return JsonResponse(api_error_body(code, **params), status=status_code)


class ApiLanguageMiddleware:
    """The API answers in French whatever Accept-Language says (after
    LocaleMiddleware, which chose the admin's language): DRF's own messages
    (a field's "Ce champ est obligatoire.") included. See api_codes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            translation.activate(API_LANGUAGE)
            request.LANGUAGE_CODE = API_LANGUAGE
        return self.get_response(request)


# C0 control characters and DEL: no URL path of ours has one, and PostgreSQL
# refuses a NUL in any text, which used to surface as a 503 "outage".
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class PublicBodyLimitMiddleware:
    """413 before any parsing when a public request announces too big a body;
    400 for an API path with a control character in it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and _CONTROL_CHARS.search(request.path):
            return _json_error("invalid_path", 400)
        if request.path.startswith(PUBLIC_API_PREFIXES):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.PUBLIC_MAX_BODY_BYTES:
                return _json_error("body_too_large", 413, limit=settings.PUBLIC_MAX_BODY_BYTES)
        return self.get_response(request)


# --- Public JSON bodies --------------------------------------------------------------
#
# Whatever a browser or a partner sends, parsing answers a clear 400 or gives
# values every later step can store: Python's json module would raise a
# RecursionError (a 500) on deep nesting, turn 1e400 into a float no database
# takes, refuse integers past 4,300 digits with a ValueError, and keep NUL
# characters and lone surrogates that PostgreSQL refuses (once a 503).

MAX_JSON_DEPTH = 32
# Longer integers than this are kept as their digits (text), never converted.
_MAX_INT_DIGITS = 100
# "\u0000" or a UTF-16 surrogate escape: the only ways a parsed string can
# hold what no database stores (raw control characters are invalid JSON).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE_CHARS = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT_CHAR = "\ufffd"


def _parse_int(text: str):
    return int(text) if len(text) <= _MAX_INT_DIGITS else text


def _parse_float(text: str):
    value = float(text)
    return value if math.isfinite(value) else text


def _storable(value):
    """`value` with NUL characters and lone surrogates, in keys and values,
    replaced by U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE_CHARS.sub(REPLACEMENT_CHAR, value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _too_deep(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _parse_error(code: str, **params) -> ParseError:
    return ParseError(api_message(code, **params), code=code)


def public_json_loads(text: str):
    """Parse a public body (see above); ParseError with the reason otherwise."""
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=str)
    except RecursionError as exc:  # past about 1,000 levels
        raise _parse_error("json_too_deep", depth=MAX_JSON_DEPTH) from exc
    except json.JSONDecodeError as exc:
        raise _parse_error("invalid_json", line=exc.lineno, column=exc.colno) from exc
    except ValueError as exc:  # an integer of more digits than Python converts
        raise _parse_error("invalid_json", line="?", column="?") from exc
    # Cheap tests first: a typical body has a handful of brackets and no escapes.
    deep = text.count("{") + text.count("[") > MAX_JSON_DEPTH
    if deep and isinstance(value, dict | list) and _too_deep(value, MAX_JSON_DEPTH):
        raise _parse_error("json_too_deep", depth=MAX_JSON_DEPTH)
    if "\\u" in text and _UNSTORABLE_ESCAPE.search(text):
        value = _storable(value)
    return value


class PublicJSONParser(JSONParser):
    """JSON the public way: see public_json_loads. Invalid UTF-8 is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _parse_error("invalid_utf8", byte=exc.start) from exc
        return public_json_loads(text)


class PlainTextJSONParser(PublicJSONParser):
    """navigator.sendBeacon sends JSON as text/plain; parse it as JSON."""

    media_type = "text/plain"


def api_exception_handler(exc, context):
    """Every error as JSON `{"success": false, "code": …, "error": …}` (see
    api_codes); database outages answer 503 (the transaction was rolled back:
    nothing half-written), but a value the database refuses is the client's
    error, not an outage."""
    if isinstance(exc, DataError):
        logger.warning("value refused by the database during %s: %s", context["request"].path, exc)
        return Response(api_error_body("value_not_storable"), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DatabaseError):
        logger.exception("database unavailable during %s", context["request"].path)
        return Response(
            api_error_body("service_unavailable"),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "30"},
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            **api_error_body("invalid_fields", fields=", ".join(fields)),
            "fields": fields,
        }
        return response
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        code = _DRF_CODES.get(code, code) if isinstance(code, str) else "error"
        detail = exc.detail
    else:  # Django's Http404 / PermissionDenied, turned into DRF's answers
        code = "not_found" if response.status_code == 404 else "permission_denied"
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
    if code in _GENERIC_MESSAGES:
        # DRF's English defaults: our French message instead.
        detail = api_message(code, **_GENERIC_MESSAGES[code](exc, context))
    response.data = {"success": False, "code": code, "error": str(detail)}
    return response


# DRF's codes renamed where ours say more.
_DRF_CODES = {"parse_error": "invalid_json"}
# Codes whose message is ours whatever DRF put in the exception, with their parameters.
_GENERIC_MESSAGES = {
    "not_authenticated": lambda exc, context: {},
    "authentication_failed": lambda exc, context: {},
    "permission_denied": lambda exc, context: {},
    "not_found": lambda exc, context: {},
    "method_not_allowed": lambda exc, context: {"method": context["request"].method},
    "not_acceptable": lambda exc, context: {},
    "unsupported_media_type": lambda exc, context: {},
    "throttled": lambda exc, context: {"wait": exc.wait and math.ceil(exc.wait) or 1},
}


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
                wait=throttle.wait(),
                detail=api_message("too_many_failed_authentications"),
                code="too_many_failed_authentications",
            ) from None
        raise


class LenientContentNegotiation(DefaultContentNegotiation):
    """Public bodies are JSON whatever the label (beacons, old scripts, or no
    Content-Type at all): fall back to the JSON parser instead of a 415."""

    def select_parser(self, request, parsers):
        parser = super().select_parser(request, parsers)
        return parser or PublicJSONParser()


def api_not_found(request, exception=None):
    """404 as JSON under /api/ (the README promises JSON errors), the admin's
    page elsewhere."""
    if request.path.startswith("/api/"):
        return _json_error("not_found", 404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def api_server_error(request):
    if request.path.startswith("/api/"):
        return _json_error("internal_error", 500)
    from django.views.defaults import server_error

    return server_error(request)
