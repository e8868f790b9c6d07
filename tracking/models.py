"""Landing pages and forms (with their codes), visitor sessions and events."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enersolar.models import CRM, Account, ProductType, mask_secret, money_field
from enersolar.services import code_sequence_next


class HasConversion:
    """`conversion` of anything counting `started` and `finished`: a stats
    snapshot, a FormStats, a form annotated by selectors.forms_with_stats().
    Derived, never stored, so that it cannot disagree with its counts."""

    @property
    def conversion(self) -> Decimal | None:
        from .selectors import conversion_rate  # the selectors import these models

        return conversion_rate(started=self.started, finished=self.finished)


class LandingPage(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        ARCHIVED = "archived", _("archived")

    # LP-001, LP-002, … from a sequence, so a deleted code is never reused.
    code = models.CharField(_("code"), max_length=20, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="landing_pages", verbose_name=_("account")
    )
    url = models.URLField(_("URL"), max_length=500, blank=True)
    traffic_source = models.CharField(
        _("traffic source"), max_length=50, blank=True, help_text=_("Facebook, Google, native…")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    # The form this LP serves (track/session, /api/forms/public/by-lp), chosen
    # by staff, never guessed: duplicating a form must not take the LP over.
    # SET_NULL, not PROTECT: forms already PROTECT their LP, and protecting
    # both ways would make an LP and its form impossible to delete.
    form = models.ForeignKey(
        "Form",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="served_on",
        verbose_name=_("served form"),
        help_text=_("The form this landing page serves: one of its own active forms."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("landing page")
        verbose_name_plural = _("landing pages")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        if not self.code:
            self.code = f"LP-{code_sequence_next(name='LP'):03d}"
        super().save(*args, **kwargs)

    @property
    def link_url(self) -> str:
        """The URL when it may be a link: http(s) only. The field's validator
        also lets ftp through, and rows written around the form (imports,
        updates) were never validated: a `javascript:` URL must not be clickable."""
        return self.url if self.url.lower().startswith(("http://", "https://")) else ""

    @property
    def linked_form(self) -> "Form | None":
        """The form the LP serves: its chosen `form`, while active (an archived
        form serves nothing; staff choose another)."""
        form = self.form
        return form if form is not None and form.status == Form.Status.ACTIVE else None


class Form(HasConversion, models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        ARCHIVED = "archived", _("archived")

    class ConversionMode(models.TextChoices):
        GTM = "gtm", _("GTM event")
        REDIRECT = "redirect", _("redirect")
        BOTH = "both", _("GTM and redirect")

    # <PRODUCT>-<NNN> with a counter per product type, also on duplicate.
    code = models.CharField(_("code"), max_length=20, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    product_type = models.ForeignKey(
        ProductType, on_delete=models.PROTECT, verbose_name=_("product type")
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="forms", verbose_name=_("account")
    )
    landing_page = models.ForeignKey(
        LandingPage, on_delete=models.PROTECT, related_name="forms", verbose_name=_("landing page")
    )
    crm_override = models.ForeignKey(
        CRM,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="override_forms",
        verbose_name=_("CRM override"),
        help_text=_("Send this form's leads to this CRM instead of the account's routing."),
    )
    # Write-once in the admin: replaced only through the explicit action.
    crm_override_api_key = models.CharField(_("CRM override API key"), max_length=255, blank=True)
    allow_cross_crm = models.BooleanField(
        _("allow cross-CRM"),
        default=False,
        help_text=_("Without an eligible order at the target CRM, deliver to another CRM's order."),
    )
    redirect_url = models.URLField(_("thank-you redirect URL"), max_length=500, blank=True)
    conversion_mode = models.CharField(
        _("conversion tracking"),
        max_length=10,
        choices=ConversionMode.choices,
        default=ConversionMode.REDIRECT,
    )
    aid_maprimerenov = money_field(_("MaPrimeRénov' amount (€)"), null=True, blank=True)
    aid_cee = money_field(_("CEE bonus amount (€)"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # The card's counters count from here (NULL: since the beginning).
    stats_reset_at = models.DateTimeField(
        _("stats reset at"), null=True, blank=True, editable=False
    )
    # The form's id in the legacy system (a UUID), set by the legacy import:
    # landing pages built there post it as `form_code`, and the public
    # intake and sessions accept it like the code, so they keep working.
    legacy_id = models.CharField(
        _("legacy id"), max_length=100, unique=True, null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("form")
        verbose_name_plural = _("forms")
        ordering = ["code"]
        permissions = [("reset_form_stats", _("Can reset a form's stats"))]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        if not self.code:
            prefix = self.product_type.code
            self.code = f"{prefix}-{code_sequence_next(name=f'FORM-{prefix}'):03d}"
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding and self.status == self.Status.ACTIVE:
            self._serve_on_landing_page_without_form()

    def _serve_on_landing_page_without_form(self) -> None:
        """A new active form is served by its LP when the LP serves none yet
        (a new LP's first form, an import): never in place of a chosen form,
        so a duplicate does not take its LP over. Saved through the LP (not
        a bulk update) so that the caches of LPs hear of it."""
        landing_page = LandingPage.objects.filter(pk=self.landing_page_id, form__isnull=True)
        landing_page = landing_page.first()
        if landing_page is not None:
            landing_page.form = self
            landing_page.save(update_fields=["form"])
            if Form.landing_page.is_cached(self):
                self.landing_page.form = self  # the caller's copy says so too

    @property
    def liaison_code(self) -> str:
        return f"{self.landing_page.code}_{self.code}"

    @property
    def crm_override_api_key_masked(self) -> str:
        return mask_secret(self.crm_override_api_key)


class FormStatsSnapshot(HasConversion, models.Model):
    """The counters of a form as they stood when an admin reset them: the
    period [period_start, reset_at) they covered is kept with them."""

    form = models.ForeignKey(
        Form, on_delete=models.CASCADE, related_name="stats_snapshots", verbose_name=_("form")
    )
    period_start = models.DateTimeField(
        _("counted since"), null=True, blank=True, help_text=_("Empty: since the beginning.")
    )
    reset_at = models.DateTimeField(_("reset at"))
    reset_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reset by"),
    )
    started = models.PositiveIntegerField(_("started"))
    finished = models.PositiveIntegerField(_("finished"))
    # Leads whose session did not start the form (tracking.selectors);
    # 0 in snapshots taken before it was counted apart.
    direct = models.PositiveIntegerField(_("direct"), default=0)

    class Meta:
        verbose_name = _("stats snapshot")
        verbose_name_plural = _("stats snapshots")
        ordering = ["-reset_at", "-id"]

    def __str__(self) -> str:
        return f"{self.form_id} @ {self.reset_at:%Y-%m-%d %H:%M}"


class UTMFields(models.Model):
    """First-touch attribution shared by sessions, events and leads."""

    utm_source = models.CharField(_("utm_source"), max_length=255, blank=True)
    utm_medium = models.CharField(_("utm_medium"), max_length=255, blank=True)
    utm_campaign = models.CharField(_("utm_campaign"), max_length=255, blank=True)
    utm_content = models.CharField(_("utm_content"), max_length=255, blank=True)
    utm_term = models.CharField(_("utm_term"), max_length=255, blank=True)
    gclid = models.CharField(_("gclid"), max_length=255, blank=True)
    fbclid = models.CharField(_("fbclid"), max_length=255, blank=True)

    ATTRIBUTION_FIELDS = (
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_content",
        "utm_term",
        "gclid",
        "fbclid",
    )

    class Meta:
        abstract = True


class VisitContext(UTMFields):
    """Where and when a visit happened, and from which browser: shared by
    sessions and their events."""

    landing_page = models.ForeignKey(
        LandingPage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("landing page"),
    )
    form = models.ForeignKey(
        Form,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("form"),
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("account"),
    )
    lp_code = models.CharField(_("LP code"), max_length=50, blank=True)
    form_code = models.CharField(_("form code"), max_length=50, blank=True)
    liaison_code = models.CharField(_("liaison code"), max_length=101, blank=True)
    referrer = models.CharField(_("referrer"), max_length=2000, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=500, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        abstract = True


class VisitorSession(VisitContext):
    """One visit of one visitor to a landing page / form (30-minute reuse)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        CONVERTED = "converted", _("converted")

    REUSE_MINUTES = 30

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    visitor_id = models.CharField(_("visitor id"), max_length=64)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )

    class Meta:
        verbose_name = _("visitor session")
        verbose_name_plural = _("visitor sessions")
        indexes = [
            # Session reuse: same visitor, same LP, recent.
            models.Index(fields=["visitor_id", "lp_code", "created_at"], name="session_reuse_idx"),
            models.Index(fields=["form", "created_at"], name="session_form_idx"),
        ]

    def __str__(self) -> str:
        return str(self.id)


# Recorded once per session (a unique index); other event types every time.
ONCE_PER_SESSION_EVENTS = ("lp_visit", "cta_click", "form_start")


class TrackingEvent(VisitContext):
    """A tracking event; lp_visit, cta_click and form_start once per session."""

    ONCE_PER_SESSION = ONCE_PER_SESSION_EVENTS

    session = models.ForeignKey(
        VisitorSession, on_delete=models.CASCADE, related_name="events", verbose_name=_("session")
    )
    event_type = models.CharField(_("event type"), max_length=50)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")
        constraints = [
            # The database, not a read-then-write, keeps these once per session:
            # concurrent beacons race to this index and only one row wins.
            models.UniqueConstraint(
                fields=["session", "event_type"],
                condition=Q(event_type__in=ONCE_PER_SESSION_EVENTS),
                name="event_once_per_session",
            )
        ]
        indexes = [
            models.Index(fields=["form", "event_type", "created_at"], name="event_form_idx"),
            # A form's starts with their session, read from the index alone
            # by the form counters' finished and direct (tracking.selectors).
            models.Index(
                fields=["form", "created_at"],
                include=["session"],
                name="event_form_start_session_idx",
                condition=Q(event_type="form_start"),
            ),
            # The dashboard's form starts since its stored counts (backoffice).
            models.Index(
                fields=["created_at"],
                name="event_form_start_idx",
                condition=Q(event_type="form_start"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.session_id}"
