"""One delivery attempt: payload, HTTP POST, answer classification, record."""

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from enersolar.models import mask_secret
from enersolar.phone import phone_mask
from leads.models import Lead

from ..models import Delivery, DeliveryAttempt

logger = logging.getLogger(__name__)

# Lead field → the CRM's custom field name (ZR7/MDL protocol, SPEC §5).
CUSTOM_FIELDS = {
    "departement": "departement",
    "ville": "ville",
    "adresse": "adresse",
    "type_logement": "type_logement",
    "statut_occupant": "statut_occupant",
    "surface_habitable": "superficie_logement",
    "annee_construction": "annee_construction",
    "type_chauffage": "chauffage_actuel",
    "facture_electricite": "facture_electricite",
    "facture_chauffage": "facture_chauffage",
    "type_projet": "type_projet",
    "delai_projet": "delai_projet",
    "budget": "budget",
    "lp_code": "lp_code",
    "liaison_code": "liaison_code",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
}

EXCERPT = 500


def lead_payload(lead: Lead) -> dict:
    values = {field: getattr(lead, field) for field in CUSTOM_FIELDS}
    values["product_type"] = lead.product_type.code if lead.product_type_id else ""
    custom = {CUSTOM_FIELDS.get(k, k): {"value": str(v)} for k, v in values.items() if v}
    if lead.consent_at:
        # The buyer's proof of when the visitor consented (ISO 8601, UTC).
        consent_at = lead.consent_at.astimezone(UTC).isoformat(timespec="seconds")
        custom["rgpd_consent_date"] = {"value": consent_at}
    payload = {
        "phone": lead.phone,
        "register_date": lead.register_date,
        "nom": lead.nom,
        "prenom": lead.prenom,
        "email": lead.email,
        "custom_fields": custom,
    }
    if lead.civilite:
        payload["civilite"] = lead.civilite
    return payload


@dataclass(frozen=True)
class AttemptResult:
    outcome: str
    http_status: int | None
    excerpt: str
    error: str
    duration_ms: int
    retry_after: int | None = None  # seconds, from a 429's Retry-After


def classify(status_code: int, body: str) -> str:
    """SPEC §5: 201 success, 200 "doublon" duplicate, 403 auth, 400 validation,
    429 and 5xx transient, anything else failed."""
    if status_code == 201:
        return DeliveryAttempt.Outcome.SUCCESS
    if status_code == 200 and "doublon" in body.lower():
        return DeliveryAttempt.Outcome.DUPLICATE
    if status_code == 403:
        return DeliveryAttempt.Outcome.AUTH_ERROR
    if status_code == 400:
        return DeliveryAttempt.Outcome.VALIDATION_ERROR
    if status_code == 429 or status_code >= 500:
        return DeliveryAttempt.Outcome.TRANSIENT
    return DeliveryAttempt.Outcome.FAILED


class _BuyerSession(requests.Session):
    """requests.Session that reads the environment's proxy and CA-bundle
    settings once per buyer URL, not on every POST: requests scans the whole
    of os.environ twice per request for them (about a tenth of a delivery's
    CPU once the writes are batched). A worker's environment does not change
    while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple, dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies:  # per-call proxies: not what delivery does, no caching
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = (url, stream, verify, cert)
        merged = self._environment.get(key)
        if merged is None:
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = merged
        return {**merged, "proxies": dict(merged["proxies"])}


_local = threading.local()


def _http() -> requests.Session:
    """One keep-alive session per worker thread (requests.Session is not
    thread-safe to share)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _BuyerSession()
        session.mount("http://", HTTPAdapter(pool_maxsize=4, max_retries=0))
        session.mount("https://", HTTPAdapter(pool_maxsize=4, max_retries=0))
        _local.session = session
    return session


def _retry_after(response: requests.Response) -> int | None:
    """Retry-After in seconds, given as a number or as an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(int((when - datetime.now(UTC)).total_seconds()), 0)


def _redact(text: str, secret: str) -> str:
    """A buyer may echo the key back ("Invalid API key …"): what we store and
    show keeps only its last characters. Before truncating, so no prefix of
    the key survives a cut."""
    return text.replace(secret, mask_secret(secret)) if secret else text


def delivery_send(*, delivery: Delivery, api_key: str) -> AttemptResult:
    """POST the lead to its CRM. Never raises for network trouble: it becomes
    a transient outcome. The key goes in the header and nowhere else."""
    lead = delivery.lead
    started = time.monotonic()
    try:
        response = _http().post(
            delivery.crm.api_url,
            json=lead_payload(lead),
            headers={
                "Authorization": api_key,
                # A stable id per lead lets the buyer drop a repeat we could
                # not avoid (at-least-once delivery after a crash).
                "Idempotency-Key": str(lead.pk),
                "X-Request-Id": str(lead.pk),
            },
            timeout=(settings.CRM_CONNECT_TIMEOUT, settings.CRM_READ_TIMEOUT),
            # A redirect is an answer to classify (failed), not to follow: a
            # followed 302 would replay the lead as a GET elsewhere.
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        result = AttemptResult(
            outcome=DeliveryAttempt.Outcome.TRANSIENT,
            http_status=None,
            excerpt="",
            error=_redact(f"{type(exc).__name__}: {exc}", api_key)[:EXCERPT],
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    else:
        body = _redact(response.text, api_key)[:EXCERPT]
        outcome = classify(response.status_code, body)
        result = AttemptResult(
            outcome=outcome,
            http_status=response.status_code,
            excerpt=body,
            error=""
            if outcome == DeliveryAttempt.Outcome.SUCCESS
            else f"HTTP {response.status_code}",
            duration_ms=int((time.monotonic() - started) * 1000),
            retry_after=_retry_after(response) if response.status_code == 429 else None,
        )
    logger.info(
        "delivery attempt lead=%s crm=%s outcome=%s http=%s ms=%s phone=%s",
        lead.pk,
        delivery.crm.slug,
        result.outcome,
        result.http_status,
        result.duration_ms,
        phone_mask(lead.phone),
    )
    return result


def attempt_result_of_error(*, delivery: Delivery, exc: Exception, api_key: str) -> AttemptResult:
    """Our own error while building or sending one lead's request (bad data,
    a bug): a transient outcome for that lead alone, so the retry ladder
    applies and the rest of its batch goes on. Logged with its traceback,
    the key masked (an exception's text may quote a header)."""
    logger.error(
        "delivery error lead=%s crm=%s\n%s",
        delivery.pk,
        delivery.crm_id,
        _redact("".join(traceback.format_exception(exc)), api_key),
    )
    return AttemptResult(
        outcome=DeliveryAttempt.Outcome.TRANSIENT,
        http_status=None,
        excerpt="",
        error=_redact(f"Internal error: {type(exc).__name__}: {exc}", api_key)[:EXCERPT],
        duration_ms=0,
    )


def attempt_build(*, delivery: Delivery, result: AttemptResult, at: datetime) -> DeliveryAttempt:
    """The attempt's row, not saved yet (a batch inserts its rows together)."""
    return DeliveryAttempt(
        delivery_id=delivery.pk,
        crm_id=delivery.crm_id,
        attempted_at=at,
        http_status=result.http_status,
        duration_ms=result.duration_ms,
        response_excerpt=result.excerpt,
        error=result.error,
        outcome=result.outcome,
    )
