"""The core every app needs: CRMs, accounts (tenants) and their routing,
product types, departments, inbound API keys, code sequences, the journal,
and what operators watch: the periodic jobs' last runs, the workers' heartbeats."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def mask_secret(value: str) -> str:
    """What staff may see of a secret once saved: its last four characters."""
    if not value:
        return ""
    return "••••" + value[-4:]


class CRM(models.Model):
    """A buyer CRM (ZR7, MDL, …) that receives leads by HTTP POST."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    api_url = models.URLField(_("API URL"), max_length=500)
    is_active = models.BooleanField(_("active"), default=True)
    only_ordered_leads = models.BooleanField(
        _("takes only ordered leads"),
        default=True,
        help_text=_("When set, this CRM only receives leads matching one of its orders."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("CRM")
        verbose_name_plural = _("CRMs")
        ordering = ["name"]
        # Where leads go: a CRM's endpoint URL, every buyer key (routing,
        # orders, form overrides) and a form's CRM override. Admin role only
        # (enersolar/roles.py); see enersolar/destinations.py.
        permissions = [
            (
                "manage_destinations",
                _("Can change where leads go (CRM URLs, buyer keys, form CRM overrides)"),
            )
        ]

    def __str__(self) -> str:
        return self.name


class ProductType(models.Model):
    """PV, PAC, ITE, … ; `code` prefixes the form codes (PV-001)."""

    code = models.CharField(
        _("code"),
        max_length=10,
        unique=True,
        help_text=_("Upper-case letters, used as form code prefix."),
    )
    name = models.CharField(_("name"), max_length=100)
    dedupe_window_days = models.PositiveIntegerField(
        _("duplicate window (days)"),
        default=30,
        help_text=_(
            "A lead with the same phone and product within this window is a duplicate. "
            "0 turns it off."
        ),
    )

    class Meta:
        verbose_name = _("product type")
        verbose_name_plural = _("product types")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        self.code = self.code.strip().upper()
        super().save(*args, **kwargs)


class Department(models.Model):
    """A metropolitan French department (01–95 without 20, plus 2A/2B)."""

    code = models.CharField(_("code"), max_length=2, primary_key=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class Account(models.Model):
    """A client account (tenant) whose landing pages bring traffic."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    origin_crm = models.ForeignKey(
        CRM,
        on_delete=models.PROTECT,
        related_name="origin_accounts",
        verbose_name=_("origin CRM"),
        help_text=_("The CRM that owns this account's traffic (billed for cross-CRM leads)."),
    )
    logo_url = models.URLField(_("logo URL"), max_length=500, blank=True)
    secondary_logo_url = models.URLField(
        _("secondary logo / badge URL"), max_length=500, blank=True
    )
    gtm_head = models.TextField(_("GTM head snippet"), blank=True)
    gtm_body = models.TextField(_("GTM body snippet"), blank=True)
    gtm_conversion = models.TextField(_("GTM conversion snippet"), blank=True)
    legal_notice = models.TextField(_("legal notice"), blank=True)
    privacy_text = models.TextField(_("privacy / RGPD text"), blank=True)
    redirect_url = models.URLField(_("thank-you redirect URL"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AccountRouting(models.Model):
    """Where an account's leads of one product go, with the key that CRM issued."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="routings", verbose_name=_("account")
    )
    product_type = models.ForeignKey(
        ProductType, on_delete=models.PROTECT, verbose_name=_("product type")
    )
    crm = models.ForeignKey(CRM, on_delete=models.PROTECT, verbose_name=_("target CRM"))
    api_key = models.CharField(_("API key"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("routing entry")
        verbose_name_plural = _("routing entries")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "product_type"], name="uniq_account_routing_product"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} · {self.product_type} → {self.crm}"

    @property
    def api_key_masked(self) -> str:
        return mask_secret(self.api_key)


class QualityMapping(models.Model):
    """Maps a `utm_campaign` to a quality tier (free text, e.g. A/B/C)."""

    utm_campaign = models.CharField(_("utm_campaign"), max_length=255, unique=True)
    quality_tier = models.CharField(_("quality tier"), max_length=50)

    class Meta:
        verbose_name = _("quality mapping")
        verbose_name_plural = _("quality mappings")
        ordering = ["utm_campaign"]

    def __str__(self) -> str:
        return f"{self.utm_campaign} → {self.quality_tier}"


class ApiKey(models.Model):
    """An inbound key a partner uses to post leads for one account.

    Only a SHA-256 digest is stored: keys are 256-bit random tokens, so a fast
    hash is safe (no dictionary to guess from) and keeps authentication to one
    indexed lookup per request.
    """

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("account")
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        verbose_name=_("created by"),
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("partner API key")
        verbose_name_plural = _("partner API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class CodeSequence(models.Model):
    """Monotonic counters behind human codes (LP-001, PV-001): never reused."""

    name = models.CharField(max_length=20, primary_key=True)
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("code sequence")
        verbose_name_plural = _("code sequences")

    def __str__(self) -> str:
        return f"{self.name}: {self.last_value}"


class ActivityLog(models.Model):
    """The journal: who did what to which object, and when. Append-only."""

    class Action(models.TextChoices):
        CREATE = "create", _("create")
        UPDATE = "update", _("update")
        DELETE = "delete", _("delete")
        KEY_CREATE = "key_create", _("API key created")
        KEY_REVOKE = "key_revoke", _("API key revoked")
        KEY_REPLACE = "key_replace", _("API key replaced")
        DESTINATION = "destination", _("lead destination changed")
        DUPLICATE = "duplicate", _("duplicate")
        ARCHIVE = "archive", _("archive")
        STATS_RESET = "stats_reset", _("stats reset")
        LEAD_RETRY = "lead_retry", _("lead retry")
        QUEUE_ACTION = "queue_action", _("queue action")
        VERIFICATION = "verification", _("verification run")
        IMPORT = "import", _("import")
        OTHER = "other", _("other")

    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("user"),
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True, db_index=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("activity journal")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="activity_object_idx")]

    def __str__(self) -> str:
        who = self.user or "—"
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {who} {self.get_action_display()} {self.object_repr}"
        )


# Shared by billing-like fields in other apps: money is Decimal EUR, 2 places.
def money_field(verbose_name, **kwargs) -> models.DecimalField:
    kwargs.setdefault("max_digits", 10)
    kwargs.setdefault("decimal_places", 2)
    kwargs.setdefault("validators", [MinValueValidator(Decimal("0"))])
    return models.DecimalField(verbose_name, **kwargs)


class PeriodicJob(models.Model):
    """What a job of the beat schedule (enersolar/beat.py) last did, as beat
    fires it: one row per job, written by enersolar/jobs.py around each run."""

    class Outcome(models.TextChoices):
        OK = "ok", _("ok")
        ERROR = "error", _("error")

    name = models.CharField(_("job"), max_length=100, primary_key=True)
    task = models.CharField(_("task"), max_length=200)
    # Since when the job is known: "never ran" turns overdue from here.
    created_at = models.DateTimeField(_("known since"), default=timezone.now)
    last_started_at = models.DateTimeField(_("last start"), null=True, blank=True)
    last_finished_at = models.DateTimeField(_("last end"), null=True, blank=True)
    last_outcome = models.CharField(
        _("last outcome"), max_length=10, choices=Outcome.choices, blank=True
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)

    class Meta:
        verbose_name = _("periodic job")
        verbose_name_plural = _("periodic jobs")

    def __str__(self) -> str:
        return self.name


class WorkerHeartbeat(models.Model):
    """A Celery worker process's last sign of life (enersolar/workers.py)."""

    hostname = models.CharField(_("worker"), max_length=255)
    pid = models.PositiveIntegerField(_("process"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last heartbeat"), default=timezone.now)

    class Meta:
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")
        # Two workers of one host share a node name (celery@host): the pid tells them apart.
        constraints = [
            models.UniqueConstraint(fields=["hostname", "pid"], name="worker_heartbeat_process")
        ]

    def __str__(self) -> str:
        return f"{self.hostname} ({self.pid})"
