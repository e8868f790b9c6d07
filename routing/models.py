"""Buyers' standing orders (commandes). Routing and delivery come later."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from enersolar.models import CRM, Department, ProductType, mask_secret, money_field


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
