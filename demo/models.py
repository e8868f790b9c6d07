"""The built-in pretend buyer CRM and what it received.

Moved from `routing`; the tables keep their names (routing_sandbox…), so an
existing install keeps its sandbox buyers and receipts."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SandboxBuyer(models.Model):
    """The built-in pretend buyer CRM: staff choose how it answers."""

    class Mode(models.TextChoices):
        CREATED = "201", _("201 created")
        DOUBLON = "doublon", _('200 "doublon"')
        BAD_REQUEST = "400", _("400 validation error")
        FORBIDDEN = "403", _("403 bad key")
        SERVER_ERROR = "500", _("500 server error")
        SLOW = "slow", _("201 after a delay")

    slug = models.SlugField(_("slug"), unique=True)
    mode = models.CharField(_("answer"), max_length=10, choices=Mode.choices, default=Mode.CREATED)
    delay_seconds = models.FloatField(_("delay (s) in slow mode"), default=5.0)
    received = models.PositiveIntegerField(_("leads received"), default=0, editable=False)

    class Meta:
        db_table = "routing_sandboxbuyer"
        verbose_name = _("sandbox buyer")
        verbose_name_plural = _("sandbox buyers")

    def __str__(self) -> str:
        return f"{self.slug} ({self.get_mode_display()})"


class SandboxReceipt(models.Model):
    """What the sandbox buyer received, to show staff the exact payload."""

    buyer = models.ForeignKey(
        SandboxBuyer,
        on_delete=models.CASCADE,
        related_name="receipts",
        verbose_name=_("sandbox buyer"),
    )
    request_id = models.CharField(_("request id"), max_length=64, db_index=True)
    payload = models.JSONField(_("payload received"), default=dict)
    status_code = models.PositiveSmallIntegerField(_("HTTP status answered"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        db_table = "routing_sandboxreceipt"
        verbose_name = _("sandbox receipt")
        verbose_name_plural = _("sandbox receipts")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.buyer.slug} {self.request_id} → {self.status_code}"
