"""Billing between CRMs: prepaid budgets, returns, monthly statements."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from enersolar.models import CRM
from leads.models import Lead
from routing.models import Order


class BudgetTransaction(models.Model):
    """The prepaid ledger of an order: top-ups in, consumptions out."""

    class Kind(models.TextChoices):
        TOPUP = "topup", _("top-up")
        CONSUMPTION = "consumption", _("consumption")
        REFUND = "refund", _("refund (returned lead)")

    order = models.ForeignKey(
        Order,
        on_delete=models.PROTECT,
        related_name="budget_transactions",
        verbose_name=_("order"),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    # Signed: positive adds to the balance, negative takes from it.
    amount = models.DecimalField(_("amount (€)"), max_digits=12, decimal_places=2)
    lead = models.ForeignKey(
        Lead,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("lead"),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("by"),
    )

    class Meta:
        verbose_name = _("budget transaction")
        verbose_name_plural = _("budget transactions")
        ordering = ["-created_at", "-id"]
        constraints = [
            # One consumption per lead: a redelivered task cannot charge twice.
            models.UniqueConstraint(
                fields=["order", "lead"],
                condition=Q(kind="consumption"),
                name="budget_one_consumption_per_lead",
            ),
            models.CheckConstraint(
                condition=Q(kind="consumption", amount__lt=0)
                | Q(~Q(kind="consumption"), amount__gt=0),
                name="budget_amount_sign",
            ),
        ]

    def __str__(self) -> str:
        # Journals and "Recent actions" show this: "recharge, commande n° 1 : +100,00 €".
        sign = "+" if self.amount > 0 else ""  # a negative number has its "-"
        return _("%(kind)s, order #%(order)s: %(amount)s €") % {
            "kind": self.get_kind_display(),
            "order": self.order_id,
            "amount": sign + number_format(self.amount, 2, force_grouping=True),
        }


class BudgetAlert(models.Model):
    """The last budget level announced for an order (each crossing e-mailed once)."""

    class Level(models.TextChoices):
        HEALTHY = "healthy", _("healthy")
        ATTENTION = "attention", _("attention")
        WARNING = "warning", _("warning")
        CRITICAL = "critical", _("critical")
        DEPLETED = "depleted", _("depleted")

    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, primary_key=True, related_name="budget_alert"
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.HEALTHY)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("budget alert")
        verbose_name_plural = _("budget alerts")

    def __str__(self) -> str:
        return _("order #%(order)s: %(level)s") % {
            "order": self.order_id,
            "level": self.get_level_display(),
        }


class LeadReturn(models.Model):
    """A buyer returned a delivered lead: not billed, or credited if it was."""

    lead = models.OneToOneField(
        Lead,
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="return_record",
        verbose_name=_("lead"),
    )
    reason = models.CharField(_("reason"), max_length=500)
    returned_at = models.DateTimeField(_("returned at"), default=timezone.now)
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("recorded by"),
    )
    credited_on = models.ForeignKey(
        "Statement",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("credited on statement"),
    )

    class Meta:
        verbose_name = _("lead return")
        verbose_name_plural = _("lead returns")
        ordering = ["-returned_at"]

    def __str__(self) -> str:
        return f"{self.lead_id}: {self.reason[:40]}"


class Statement(models.Model):
    """A monthly statement between two CRMs, frozen when issued: its lines
    hold the amounts of that day and are never recomputed."""

    number = models.CharField(_("number"), max_length=30, unique=True)
    period = models.DateField(_("month"), help_text=_("First day of the month billed."))
    creditor = models.ForeignKey(
        CRM,
        on_delete=models.PROTECT,
        related_name="statements_receivable",
        verbose_name=_("creditor (origin CRM)"),
    )
    debtor = models.ForeignKey(
        CRM,
        on_delete=models.PROTECT,
        related_name="statements_payable",
        verbose_name=_("debtor (receiving CRM)"),
    )
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    lead_count = models.PositiveIntegerField(_("leads"), default=0)
    credit_count = models.PositiveIntegerField(_("credits"), default=0)
    total = models.DecimalField(_("total (€)"), max_digits=12, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("statement")
        verbose_name_plural = _("statements")
        ordering = ["-period", "creditor__name", "debtor__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "creditor", "debtor"], name="one_statement_per_pair_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.debtor} → {self.creditor} {self.period:%Y-%m}"


class StatementLine(models.Model):
    class Kind(models.TextChoices):
        CHARGE = "charge", _("lead")
        CREDIT = "credit", _("credit (returned lead)")

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    lead = models.ForeignKey(Lead, on_delete=models.PROTECT, related_name="statement_lines")
    delivered_at = models.DateTimeField(_("delivered at"))
    product = models.CharField(_("product"), max_length=10)
    departement = models.CharField(_("department"), max_length=2)
    amount = models.DecimalField(_("amount (€)"), max_digits=10, decimal_places=2)

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["delivered_at", "id"]
        constraints = [
            # A lead is charged once, and credited at most once, ever.
            models.UniqueConstraint(fields=["lead", "kind"], name="statement_line_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.lead_id} {self.amount} €"
