"""The Lead: stored first, whatever is wrong with it, then classified."""

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enersolar.models import Account, ApiKey, ProductType
from tracking.models import Form, LandingPage, VisitorSession


class Lead(models.Model):
    class Status(models.TextChoices):
        # Intake (SPEC §3.1): rejected, kept with their reasons.
        ORPHAN = "orphan", _("orphan (form not found)")
        INVALID_PHONE = "invalid_phone", _("invalid phone")
        MISSING_REQUIRED = "missing_required", _("missing required field")
        DOUBLE_SUBMIT = "double_submit", _("double submit")
        DUPLICATE_INTERNAL = "duplicate_internal", _("internal duplicate")
        # Routing (SPEC §4).
        NO_CRM = "no_crm", _("no CRM")
        NO_API_KEY = "no_api_key", _("no API key")
        PENDING_NO_ORDER = "pending_no_order", _("held: no eligible order")
        # Delivery (SPEC §5).
        PENDING = "pending", _("pending delivery")
        QUEUED = "queued", _("queued for retry")
        SUCCESS = "success", _("delivered")
        DUPLICATE = "duplicate", _("duplicate at the CRM")
        AUTH_ERROR = "auth_error", _("CRM authentication error")
        VALIDATION_ERROR = "validation_error", _("CRM validation error")
        FAILED = "failed", _("failed")
        # After delivery (SPEC §6).
        RETURNED = "returned", _("returned by the buyer")
        # Consent explicitly refused (SPEC §3.1): stored, never delivered.
        NO_CONSENT = "no_consent", _("consent refused")
        # Not delivered within LEAD_FRESHNESS_HOURS: worth nothing to a buyer
        # any more, never sent afterwards (final).
        EXPIRED = "expired", _("expired (not delivered in time)")

    # A later lead with the same phone and product is a duplicate of these.
    DEDUPE_STATUSES = (
        Status.PENDING,
        Status.QUEUED,
        Status.SUCCESS,
        Status.PENDING_NO_ORDER,
    )
    # Waiting to be sent without anyone acting (pending, queued, held for an
    # order): the sweep marks these `expired` once older than the freshness
    # limit. Others (a final failure, no CRM) keep their status, which says
    # more; "Relancer" refuses them once too old (routing.services.queue).
    WAITING_STATUSES = (Status.PENDING, Status.QUEUED, Status.PENDING_NO_ORDER)
    REJECTED_STATUSES = (
        Status.ORPHAN,
        Status.INVALID_PHONE,
        Status.MISSING_REQUIRED,
        Status.DOUBLE_SUBMIT,
        Status.DUPLICATE_INTERNAL,
        Status.NO_CONSENT,
    )

    # The person and the project, free text as the visitor gave them (SPEC §3.1);
    # housing type and occupancy status, which have defaults, come apart.
    PERSON_FIELDS = ("civilite", "nom", "prenom", "code_postal", "ville", "adresse")
    PROJECT_FIELDS = (
        "surface_habitable",
        "annee_construction",
        "type_chauffage",
        "facture_electricite",
        "facture_chauffage",
        "type_projet",
        "delai_projet",
        "budget",
    )
    HOUSING_FIELDS = ("type_logement", "statut_occupant")

    class Source(models.TextChoices):
        PUBLIC = "public", _("public form")
        PARTNER = "partner", _("partner API")
        IMPORT = "import", _("import")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, db_index=True)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.PUBLIC
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    register_date = models.BigIntegerField(_("register date (Unix time)"))

    # Where it came from.
    session = models.ForeignKey(
        VisitorSession,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("session"),
    )
    form = models.ForeignKey(
        Form,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("form"),
    )
    form_code = models.CharField(_("form code (as sent)"), max_length=50, blank=True)
    account = models.ForeignKey(
        Account,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        verbose_name=_("account"),
    )
    product_type = models.ForeignKey(
        ProductType, on_delete=models.SET_NULL, null=True, blank=True, verbose_name=_("product")
    )
    landing_page = models.ForeignKey(
        LandingPage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("landing page"),
    )
    lp_code = models.CharField(_("LP code"), max_length=50, blank=True)
    liaison_code = models.CharField(_("liaison code"), max_length=101, blank=True)
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner API key"),
    )
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    utm_source = models.CharField(_("utm_source"), max_length=255, blank=True)
    utm_medium = models.CharField(_("utm_medium"), max_length=255, blank=True)
    utm_campaign = models.CharField(_("utm_campaign"), max_length=255, blank=True)
    quality_tier = models.CharField(_("quality tier"), max_length=50, blank=True)

    # The person (legacy field names, kept for the CRMs' payload).
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("0XXXXXXXXX"))
    phone_raw = models.CharField(_("phone as sent"), max_length=30, blank=True)
    civilite = models.CharField(_("civility"), max_length=20, blank=True)
    nom = models.CharField(_("last name"), max_length=100, blank=True)
    prenom = models.CharField(_("first name"), max_length=100, blank=True)
    email = models.CharField(_("e-mail"), max_length=254, blank=True)
    departement = models.CharField(_("department"), max_length=2, blank=True)
    code_postal = models.CharField(_("postal code"), max_length=10, blank=True)
    ville = models.CharField(_("city"), max_length=100, blank=True)
    adresse = models.CharField(_("address"), max_length=255, blank=True)
    type_logement = models.CharField(_("housing type"), max_length=50, blank=True)
    statut_occupant = models.CharField(_("occupancy status"), max_length=50, blank=True)
    surface_habitable = models.CharField(_("living area"), max_length=50, blank=True)
    annee_construction = models.CharField(_("construction year"), max_length=50, blank=True)
    type_chauffage = models.CharField(_("heating type"), max_length=100, blank=True)
    facture_electricite = models.CharField(_("electricity bill"), max_length=50, blank=True)
    facture_chauffage = models.CharField(_("heating bill"), max_length=50, blank=True)
    type_projet = models.CharField(_("project type"), max_length=100, blank=True)
    delai_projet = models.CharField(_("project timeline"), max_length=100, blank=True)
    budget = models.CharField(_("budget"), max_length=50, blank=True)
    rgpd_consent = models.BooleanField(_("RGPD consent"), default=True)
    newsletter = models.BooleanField(_("newsletter"), default=False)
    # The proof of consent (SPEC §3.3): with rgpd_consent and ip above, when and
    # from which browser and page the visitor gave (or refused) it.
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    consent_user_agent = models.CharField(_("consent user agent"), max_length=500, blank=True)
    consent_page_url = models.CharField(_("consent page URL"), max_length=2000, blank=True)

    # The body as it was submitted, whole (values cut or refused in the
    # columns above are still here), so nothing a visitor typed is lost.
    raw_payload = models.JSONField(
        _("submitted data"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    # A client-generated submission id (Idempotency-Key / submission_id),
    # scoped by source and partner account, and the answer its first
    # submission got: a retry is answered the same, never stored twice.
    idempotency_key = models.CharField(
        _("submission id"), max_length=150, blank=True, default="", editable=False
    )
    intake_answer = models.JSONField(_("intake answer"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at"]
        indexes = [
            # Double-submit and duplicate checks, and admin search by phone.
            models.Index(fields=["phone", "created_at"], name="lead_phone_idx"),
            models.Index(fields=["email"], name="lead_email_idx"),
            models.Index(fields=["account", "created_at"], name="lead_account_idx"),
            # A form's leads; with the session and status carried along, the
            # form counters (tracking.selectors: finished, direct) read them
            # from the index alone (PostgreSQL's INCLUDE; a plain index elsewhere).
            models.Index(
                fields=["form", "created_at"],
                include=["session", "status"],
                name="lead_form_session_idx",
            ),
            models.Index(fields=["departement", "created_at"], name="lead_department_idx"),
            # The sweep for leads whose delivery was never queued (broker down).
            models.Index(
                fields=["created_at"], name="lead_pending_idx", condition=Q(status="pending")
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="lead_idempotency_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.get_status_display()})"


class RejectedLeadManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(status__in=Lead.REJECTED_STATUSES)


class RejectedLead(Lead):
    """The leads refused at intake (kept with their reasons): the same rows,
    as an admin entry of their own for the staff who chase bad traffic."""

    objects = RejectedLeadManager()

    class Meta:
        proxy = True
        verbose_name = _("rejected lead")
        verbose_name_plural = _("rejected leads")
