"""Landing pages and forms (with their codes); visitor tracking comes later."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from enersolar.models import CRM, Account, ProductType, mask_secret, money_field
from enersolar.services import code_sequence_next


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
    def linked_form(self) -> "Form | None":
        """The LP's form: its newest active form (a form belongs to one LP)."""
        return self.forms.filter(status=Form.Status.ACTIVE).order_by("-id").first()


class Form(models.Model):
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

    class Meta:
        verbose_name = _("form")
        verbose_name_plural = _("forms")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        if not self.code:
            prefix = self.product_type.code
            self.code = f"{prefix}-{code_sequence_next(name=f'FORM-{prefix}'):03d}"
        super().save(*args, **kwargs)

    @property
    def liaison_code(self) -> str:
        return f"{self.landing_page.code}_{self.code}"

    @property
    def crm_override_api_key_masked(self) -> str:
        return mask_secret(self.crm_override_api_key)
