"""CORS for the landing pages configured in the admin (SPEC §2): the public
endpoints answer cross-origin calls from the origin (scheme + host + port) of
every active landing page's URL, on top of the environment's list
(CORS_ALLOWED_ORIGINS / CORS_ALLOWED_ORIGIN_REGEXES). django-cors-headers asks
`check_request_enabled` about each origin its settings do not allow; the
origins are read through the configuration cache, so an LP saved in the admin
is allowed everywhere within CONFIG_CACHE_SECONDS, without a restart."""

import re
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from enersolar.process_cache import ProcessCache

from .models import LandingPage

_origins = ProcessCache(
    "landing_page_origins", ttl=settings.CONFIG_CACHE_SECONDS, depends_on=(LandingPage,)
)


def url_origin(url: str) -> str:
    """`https://www.example-lp.fr` for `https://www.Example-LP.fr/offre?x=1`;
    "" for anything but an http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    scheme, host = parts.scheme.lower(), parts.hostname
    if ":" in host:  # IPv6
        host = f"[{host}]"
    # Browsers leave the default port out of an Origin header.
    default = port is None or (scheme, port) in (("http", 80), ("https", 443))
    return f"{scheme}://{host}" + ("" if default else f":{port}")


def _origins_load(_key) -> frozenset[str]:
    urls = LandingPage.objects.filter(status=LandingPage.Status.ACTIVE).values_list(
        "url", flat=True
    )
    return frozenset(filter(None, map(url_origin, urls)))


def landing_page_origins() -> frozenset[str]:
    return _origins.get("all", _origins_load)


def origin_in_environment(origin: str) -> bool:
    return origin in settings.CORS_ALLOWED_ORIGINS or any(
        re.match(pattern, origin) for pattern in settings.CORS_ALLOWED_ORIGIN_REGEXES
    )


def origin_allowed(origin: str) -> bool:
    """Whether the public API answers calls from this origin."""
    return bool(origin) and (origin_in_environment(origin) or origin in landing_page_origins())


def cors_allow_landing_pages(sender, request, **kwargs) -> bool:
    """check_request_enabled receiver: a public endpoint, called from the
    origin of an active landing page."""
    if not re.match(settings.CORS_URLS_REGEX, request.path_info):
        return False
    origin = request.headers.get("origin", "")
    return bool(origin) and origin in landing_page_origins()


def landing_page_cors(landing_page: LandingPage) -> tuple[bool, str]:
    """Whether the public API answers calls from this landing page's page, and
    why, in words for the brief and the admin."""
    origin = url_origin(landing_page.url)
    if not origin:
        return False, _(
            "No http(s) URL on this landing page: its page may call the API only if its "
            "origin is in the CORS_ALLOWED_ORIGINS environment variable."
        )
    if origin_in_environment(origin):
        return True, _("Calls from %(origin)s are allowed (environment list).") % {"origin": origin}
    if landing_page.status != LandingPage.Status.ACTIVE:
        return False, _("Calls from %(origin)s are not allowed: the landing page is archived.") % {
            "origin": origin
        }
    return True, _("Calls from %(origin)s are allowed (this landing page's URL).") % {
        "origin": origin
    }
