"""What the legacy collections hold and what each field becomes (see legacy/README.md)."""

import uuid

from django.db import models

from enersolar.models import CRM, Account, QualityMapping
from leads.models import Lead
from routing.models import Delivery, Order
from tracking.models import Form, LandingPage, TrackingEvent, VisitorSession

# Dependency order: a collection only refers to those before it.
COLLECTIONS = (
    "crms",
    "accounts",
    "lps",
    "forms",
    "commandes",
    "quality_mappings",
    "visitor_sessions",
    "tracking",
    "leads",
    "lead_queue",
    # Another system's records (seed 004), migrated into leads of their own.
    "mini_analyses",
)
MODELS: dict[str, type[models.Model]] = {
    "crms": CRM,
    "accounts": Account,
    "lps": LandingPage,
    "forms": Form,
    "commandes": Order,
    "quality_mappings": QualityMapping,
    "visitor_sessions": VisitorSession,
    "tracking": TrackingEvent,
    "leads": Lead,
    "lead_queue": Delivery,
    "mini_analyses": Lead,
}
# Collections whose rows have a UUID primary key (the others: integers).
UUID_KEYED = ("visitor_sessions", "leads", "lead_queue", "mini_analyses")
# Collections of the legacy database that are not imported, and why (also in
# legacy/README.md): a dump holding them gets them listed, not silently lost.
NOT_IMPORTED = {
    "users": "staff accounts: recreated here with roles (passwords are not portable)",
    "sessions": "staff login sessions: expire at the switch",
    "activity_logs": "the old journal: kept in the dump, our journal starts at the import",
    "billing_history": "statements already settled there: never billed again here",
    "lead_prices": "prices of delivered leads: billing of legacy deliveries stays there",
    "verification_reports": "old nightly reports: kept in the dump",
    "system_config": "the global API key: partners get keys of their own here",
}
# Legacy ids that are not UUIDs (Mongo ObjectIds) get a stable UUID of ours.
ID_NAMESPACE = uuid.UUID("6f1c1a52-3c1e-4d8e-9a57-2f0e7b1d5a10")
EXAMPLES_KEPT = 20

UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "gclid", "fbclid")
LEAD_TEXT_FIELDS = (
    *Lead.PERSON_FIELDS,
    *Lead.HOUSING_FIELDS,
    *Lead.PROJECT_FIELDS,
    "lp_code",
    "liaison_code",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "quality_tier",
)

# The legacy fields we map, per collection; every other field goes to `extra`.
DOCUMENTED_FIELDS: dict[str, set[str]] = {
    "crms": {"id", "name", "slug", "api_url", "active", "is_active", "only_ordered_leads"},
    "accounts": {
        "id",
        "name",
        "crm_id",
        "logo_url",
        "secondary_logo_url",
        "gtm_head",
        "gtm_body",
        "gtm_conversion",
        "mentions_legales",
        "privacy_text",
        "redirect_url",
        "crm_routing",
    },
    "lps": {"id", "code", "name", "account_id", "url", "form_id", "source", "status"},
    "forms": {
        "id",
        "code",
        "name",
        "product_type",
        "account_id",
        "lp_id",
        "target_crm",
        "crm_api_key",
        "allow_cross_crm",
        "redirect_url",
        "status",
    },
    "quality_mappings": {"id", "utm_campaign", "quality_tier"},
    "commandes": {
        "id",
        "crm_id",
        "name",
        "product_type",
        "departements",
        "prix_unitaire",
        "active",
        "date_debut",
        "date_fin",
        "limite_jour",
        "limite_semaine",
        "limite_mois",
        "priorite",
        "api_key",
    },
    "visitor_sessions": {
        "id",
        "visitor_id",
        "lp_code",
        "form_code",
        "liaison_code",
        "referrer",
        "user_agent",
        "ip",
        "status",
        "created_at",
        *UTM,
    },
    "tracking": {
        "id",
        "session_id",
        "event",
        "event_type",
        "lp_id",
        "form_id",
        # Derived from the session and the LP/form here: not stored twice.
        "visitor_id",
        "account_id",
        "lp_code",
        "form_code",
        "liaison_code",
        "referrer",
        "user_agent",
        "ip",
        "data",
        "created_at",
        *UTM,
    },
    "leads": {
        "id",
        "session_id",
        "form_code",
        "form_id",
        "account_id",
        "product_type",
        "phone",
        "email",
        "departement",
        "ip",
        "api_status",
        "status",
        "sent_to_crm",
        "distribution_reason",
        "reasons",
        "created_at",
        "register_date",
        "rgpd_consent",
        "newsletter",
        *LEAD_TEXT_FIELDS,
    },
    "lead_queue": {
        "id",
        "lead_id",
        "crm_id",
        "api_url",
        "retry_count",
        "next_retry_at",
        "last_error",
        "status",
        "created_at",
    },
    "mini_analyses": {
        "id",
        "email",
        "phone",
        "nom_de_marque",
        "brand_name",
        "secteur",
        "sector",
        "language",
        "langue",
        "status",
        "pdf_url",
        "analysis_text",
        "analysis",
        "created_at",
        "updated_at",
    },
}

S = Lead.Status
# Our statuses' values (Status.values builds a new list each time it is read).
LEAD_STATUSES = frozenset(S.values)
# Legacy lead statuses → ours. Our own names are kept as they are, except
# those our machinery would pick up and send (pending, queued, held): an imported
# lead is never delivered by the import. Those become `failed` (staff can
# "Relancer" them) unless their lead_queue item brings them back as `queued`.
UNSENT_STATUSES = {
    "new",
    "nouveau",
    "pending",
    "queued",
    "processing",
    "retry",
    "en_attente",
    # Held leads are re-routed when an order is activated: not legacy ones.
    "pending_no_order",
}
# What the buyer already has: the legacy lead sender's `success` (HTTP 201)
# and `duplicate` ("doublon": the buyer had it), or `sent_to_crm: true`.
DELIVERED_STATUSES = {"success", "duplicate", "sent", "delivered", "envoye", "ok", "doublon"}
LEAD_STATUS_ALIASES = {
    "sent": S.SUCCESS,
    "delivered": S.SUCCESS,
    "envoye": S.SUCCESS,
    "ok": S.SUCCESS,
    "doublon": S.DUPLICATE,
    # The legacy sender's transient outcomes (normally turned into `queued`).
    "server_error": S.FAILED,
    "timeout": S.FAILED,
    "connection_error": S.FAILED,
    "error": S.FAILED,
    "erreur": S.FAILED,
    "invalid": S.MISSING_REQUIRED,
    "rejected": S.FAILED,
}
# Leads in these statuses are never linked to or by another lead of the same
# person: they were refused at intake (and have no usable phone or form).
NOT_DEDUPED = {
    S.ORPHAN,
    S.INVALID_PHONE,
    S.MISSING_REQUIRED,
    S.DUPLICATE_INTERNAL,
}
# Our statuses of a lead the buyer has: never sent again.
OUR_DELIVERED = {S.SUCCESS, S.DUPLICATE, S.RETURNED}
QUEUE_PENDING = {"pending", "queued", "processing", "retry", "waiting"}
QUEUE_EXHAUSTED = {"failed", "exhausted", "dead"}
