"""Orders (commandes), routing decisions, the delivery queue, CRM health."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enersolar.models import CRM, Department, ProductType, mask_secret, money_field
from leads.models import Lead


class Order(models.Model):
    """A CRM's standing order for leads of one product (a *commande*)."""

    crm = models.ForeignKey(
        CRM, on_delete=models.PROTECT, related_name="orders", verbose_name=_("CRM")
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    product_type = models.ForeignKey(
        ProductType, on_delete=models.PROTECT, verbose_name=_("product type")
    )
    departments = models.ManyToManyField(
        Department,
        blank=True,
        verbose_name=_("departments"),
        help_text=_("Leave empty for every department."),
    )
    unit_price = money_field(_("unit price (€)"))
    is_active = models.BooleanField(_("active"), default=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    cap_daily = models.PositiveIntegerField(_("daily cap"), null=True, blank=True)
    cap_weekly = models.PositiveIntegerField(_("weekly cap"), null=True, blank=True)
    cap_monthly = models.PositiveIntegerField(_("monthly cap"), null=True, blank=True)
    priority = models.IntegerField(
        _("priority"), default=0, help_text=_("Higher first among eligible orders.")
    )
    # Used when leads reach this CRM through the cross-CRM fallback.
    api_key = models.CharField(_("API key"), max_length=255, blank=True)
    # Prepaid budget (SPEC §6): the ledger (billing.BudgetTransaction) is the
    # truth; these two sums are kept with each ledger row, in the same
    # transaction, so routing can check them without reading the ledger.
    # NULL balance = no prepaid budget.
    prepaid_balance = money_field(
        _("prepaid balance (€)"), null=True, blank=True, editable=False, validators=[]
    )
    prepaid_total = money_field(_("prepaid top-ups (€)"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["crm__name", "product_type__code", "-priority"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True)
                | Q(ends_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="order_dates_ordered",
            )
        ]
        indexes = [
            models.Index(fields=["product_type", "is_active"], name="order_product_active_idx")
        ]

    def __str__(self) -> str:
        label = self.name or f"{self.product_type} {self.unit_price} €"
        return f"{self.crm} · {label}"

    def clean(self):
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValidationError({"ends_on": _("The end date is before the start date.")})

    @property
    def api_key_masked(self) -> str:
        return mask_secret(self.api_key)


class DefaultPrice(models.Model):
    """What a CRM pays for a lead of a product when no order applies."""

    crm = models.ForeignKey(
        CRM, on_delete=models.CASCADE, related_name="default_prices", verbose_name=_("CRM")
    )
    product_type = models.ForeignKey(
        ProductType, on_delete=models.CASCADE, verbose_name=_("product type")
    )
    unit_price = money_field(_("unit price (€)"))

    class Meta:
        verbose_name = _("default price")
        verbose_name_plural = _("default prices")
        constraints = [
            models.UniqueConstraint(fields=["crm", "product_type"], name="uniq_default_price")
        ]

    def __str__(self) -> str:
        return f"{self.crm} · {self.product_type}: {self.unit_price} €"


class Delivery(models.Model):
    """A routed lead: the routing decision (a snapshot) and its place in the
    delivery queue. One per lead; the schedule lives here, not in Celery ETAs."""

    class Source(models.TextChoices):
        FORM_OVERRIDE = "form_override", _("form override")
        ACCOUNT_ROUTING = "account_routing", _("account routing")
        # How routing chose the CRM; "cross-CRM fallback" is one way, not the
        # cross-CRM fact (is_cross_crm: delivered outside the origin CRM).
        CROSS_CRM = "cross_crm", _("cross-CRM fallback")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")  # waiting for its (next) attempt
        PROCESSING = "processing", _("processing")  # claimed by a worker
        SUCCESS = "success", _("success")
        FAILED = "failed", _("failed")  # a final answer other than success
        EXHAUSTED = "exhausted", _("exhausted")  # every retry failed

    lead = models.OneToOneField(
        Lead,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="delivery",
        verbose_name=_("lead"),
    )
    origin_crm = models.ForeignKey(
        CRM,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("origin CRM"),
    )
    crm = models.ForeignKey(
        CRM, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("target CRM")
    )
    source = models.CharField(_("routing source"), max_length=20, choices=Source.choices)
    reason = models.CharField(_("routing reason"), max_length=200, blank=True)
    order = models.ForeignKey(
        Order,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("order"),
    )
    unit_price = money_field(_("unit price (€)"), null=True, blank=True)
    routed_at = models.DateTimeField(_("routed at"), default=timezone.now)

    state = models.CharField(
        _("queue state"), max_length=12, choices=State.choices, default=State.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("delivery queue")
        permissions = [
            ("manage_queue", _("Can process the queue and reset exhausted items")),
            ("retry_lead", _("Can send a lead again")),
        ]
        indexes = [
            # The queue: due items only, so the index stays small whatever the history.
            models.Index(
                fields=["next_attempt_at"], name="delivery_due_idx", condition=Q(state="pending")
            ),
            models.Index(
                fields=["claimed_at"],
                name="delivery_processing_idx",
                condition=Q(state="processing"),
            ),
            # Caps: deliveries of an order in a period.
            models.Index(fields=["order", "routed_at"], name="delivery_order_idx"),
            models.Index(fields=["state", "routed_at"], name="delivery_state_idx"),
            # Billing: successful deliveries by delivery time.
            models.Index(
                fields=["delivered_at"],
                name="delivery_success_idx",
                condition=Q(state="success"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} → {self.crm}"

    @property
    def is_cross_crm(self) -> bool:
        """Routed to a CRM other than the origin CRM: the row-level twin of
        routing.selectors.cross_crm_condition (keep them the same), whatever
        `source` chose the CRM."""
        return self.origin_crm_id is not None and self.crm_id != self.origin_crm_id


class DeliveryTotals(models.Model):
    """How many deliveries were routed, and how many of them delivered, before
    `counted_until`: one row, rewritten by the dashboard's refresh job
    (routing.services.queue_totals_refresh).

    Counting the queue's states over every delivery ever made takes a quarter
    of a second at a million leads a day, and grows with the history. These
    two numbers only move forward (a delivery's routed_at and a success's
    delivered_at are written once), so queue_stats adds to them what was
    routed or delivered since, and counts the waiting states (small, indexed)
    live; `failed` is the rest. What the totals cannot follow (a delivery
    deleted, or inserted with a past routed_at by a legacy import) is set
    right by the hourly recount."""

    routed = models.PositiveBigIntegerField(_("deliveries routed"))
    delivered = models.PositiveBigIntegerField(_("deliveries delivered"))
    counted_until = models.DateTimeField(_("counted until"))
    # The cut-off of the last count over the whole table; the refreshes in
    # between add the minute since the previous cut-off.
    recounted_until = models.DateTimeField(_("recounted until"))

    class Meta:
        verbose_name = _("delivery totals")
        verbose_name_plural = _("delivery totals")

    def __str__(self) -> str:
        return f"{self.routed} / {self.delivered} ({self.counted_until:%Y-%m-%d %H:%M:%S})"


class DeliveryAttempt(models.Model):
    """One HTTP POST to a buyer CRM, whatever came of it."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("success")
        DUPLICATE = "duplicate", _("duplicate")
        AUTH_ERROR = "auth_error", _("authentication error")
        VALIDATION_ERROR = "validation_error", _("validation error")
        TRANSIENT = "transient", _("transient failure")
        FAILED = "failed", _("failed")

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=_("delivery")
    )
    crm = models.ForeignKey(CRM, on_delete=models.PROTECT, related_name="+", verbose_name=_("CRM"))
    attempted_at = models.DateTimeField(_("attempted at"), default=timezone.now)
    http_status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    response_excerpt = models.CharField(_("answer excerpt"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["attempted_at", "id"]
        indexes = [models.Index(fields=["attempted_at"], name="attempt_time_idx")]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.crm} {self.get_outcome_display()}"


class CRMHealth(models.Model):
    """The circuit breaker of one CRM (SPEC §5)."""

    class State(models.TextChoices):
        CLOSED = "closed", _("closed (healthy)")
        OPEN = "open", _("open (down)")
        HALF_OPEN = "half_open", _("half-open (probing)")

    crm = models.OneToOneField(
        CRM,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="health",
        verbose_name=_("CRM"),
    )
    state = models.CharField(
        _("circuit"), max_length=10, choices=State.choices, default=State.CLOSED
    )
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    # When the circuit first opened; kept while failed probes re-open it.
    outage_started_at = models.DateTimeField(_("outage started at"), null=True, blank=True)
    # The last transient failure: a closed circuit that counted some and heard
    # nothing since the cool-down gets a probe (circuits_to_probe).
    last_failure_at = models.DateTimeField(_("last failure at"), null=True, blank=True)
    changed_at = models.DateTimeField(_("last change"), default=timezone.now)

    class Meta:
        verbose_name = _("CRM health")
        verbose_name_plural = _("CRM health")

    def __str__(self) -> str:
        return f"{self.crm}: {self.get_state_display()}"


class VerificationReport(models.Model):
    """The nightly verification's findings (SPEC §7)."""

    started_at = models.DateTimeField(_("started at"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"))
    triggered_by = models.CharField(_("triggered by"), max_length=100, default="beat")
    total_leads = models.PositiveIntegerField(_("leads"), default=0)
    counts = models.JSONField(_("counts by status and CRM"), default=dict)
    retried = models.PositiveIntegerField(_("re-attempted"), default=0)
    rerouted = models.PositiveIntegerField(_("re-routed"), default=0)
    redispatched = models.PositiveIntegerField(_("re-dispatched"), default=0)
    recovered = models.PositiveIntegerField(_("recovered"), default=0)
    still_failing = models.PositiveIntegerField(_("still failing"), default=0)
    permanent_errors = models.PositiveIntegerField(_("permanent errors (reported)"), default=0)
    expired = models.PositiveIntegerField(
        _("expired (not delivered in time)"),
        default=0,
        help_text=_("Leads that reached the freshness limit during the window, undelivered."),
    )
    anomalies = models.JSONField(_("anomalies"), default=dict)

    # Each anomaly in words (the JSON keeps the keys, which scripts read).
    ANOMALY_LABELS = {
        "success_without_attempt": _("delivered leads without a successful attempt"),
        "attempt_success_but_lead_not_delivered": _(
            "successful attempts whose lead is not marked delivered"
        ),
        "delivery_state_mismatch": _("deliveries marked successful, lead not delivered"),
    }

    class Meta:
        verbose_name = _("verification report")
        verbose_name_plural = _("verification reports")
        permissions = [("run_verification", _("Can run the verification"))]
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} ({self.total_leads})"

    def anomalies_described(self) -> list[tuple[str, int]]:
        """(the anomaly in words, how many) for each anomaly of the report."""
        return [(str(self.ANOMALY_LABELS.get(key, key)), n) for key, n in self.anomalies.items()]
