from django.db import models
from django.utils.translation import gettext_lazy as _


class LeadDayCount(models.Model):
    """The dashboard's lead counts of one Paris day, status, target CRM and
    cross-CRM fact, as of `counted_until` (backoffice.services.lead_day_counts_refresh).

    At a million leads a day, counting the week live takes a second; the
    dashboard reads these rows and counts live only the leads created since
    `counted_until` (a minute's worth). Every refresh rewrites the rows as a
    whole, so they all share the same `counted_until`."""

    day = models.DateField(_("day"))
    status = models.CharField(_("status"), max_length=20)
    crm = models.CharField(_("target CRM"), max_length=100, blank=True)  # "" = not routed
    # Routed to a CRM other than the lead's origin CRM (routing.selectors.cross_crm_condition).
    cross_crm = models.BooleanField(_("cross-CRM"), default=False)
    leads = models.PositiveIntegerField(_("leads"))
    counted_until = models.DateTimeField(_("counted until"))

    class Meta:
        verbose_name = _("lead day count")
        verbose_name_plural = _("lead day counts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "status", "crm", "cross_crm"], name="lead_day_count_key"
            )
        ]

    def __str__(self) -> str:
        cross = f" ({_('cross-CRM')})" if self.cross_crm else ""
        return f"{self.day} {self.status} {self.crm or '-'}{cross}: {self.leads}"


class FormStartDayCount(models.Model):
    """The conversion's numbers of one Paris day (selectors.conversion_day_counts):
    sessions that started a form, those of them that finished it, and the
    direct leads, as of `counted_until`: stored with LeadDayCount, for the same
    reason (a million form starts a day take a quarter of a second to count)."""

    day = models.DateField(_("day"), unique=True)
    starts = models.PositiveIntegerField(_("form starts"))
    finished = models.PositiveIntegerField(_("finished form starts"), default=0)
    direct = models.PositiveIntegerField(_("direct leads"), default=0)
    counted_until = models.DateTimeField(_("counted until"))

    class Meta:
        verbose_name = _("form start day count")
        verbose_name_plural = _("form start day counts")

    def __str__(self) -> str:
        return f"{self.day}: {self.starts}"
