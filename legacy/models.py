"""What an import did: its batches, and for each imported row its legacy id.

Rather than a legacy column on every model, one mapping table: (collection,
legacy id) is unique, points to our row, tags it with its batch and keeps the
legacy fields we do not map (`extra`)."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from leads.models import Lead


class ImportBatch(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    source = models.CharField(_("source"), max_length=500, blank=True)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # {collection: {read, created, matched, already, invalid, reasons: {...}, examples: [...]}}
    counts = models.JSONField(_("counts"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("user"),
    )

    class Meta:
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")
        ordering = ["-started_at"]
        permissions = [("erase_person", _("Can erase a person's personal data (RGPD)"))]

    def __str__(self) -> str:
        return self.name


class LegacyRecord(models.Model):
    """One legacy document and the row it became (or was matched to)."""

    collection = models.CharField(_("collection"), max_length=30)
    legacy_id = models.CharField(_("legacy id"), max_length=100)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(_("our id"), max_length=64)
    # False when the document matched a row we already had (same CRM slug,
    # same LP code, …): the row is linked, not owned, and a rollback keeps it.
    created = models.BooleanField(_("created by the import"), default=True)
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.CASCADE, related_name="records", verbose_name=_("batch")
    )
    extra = models.JSONField(
        _("unmapped legacy fields"), default=dict, blank=True, encoder=DjangoJSONEncoder
    )
    # What the import changed on rows it does not own (e.g. a lead's status
    # when its queue item came back), so a rollback can put it back.
    previous = models.JSONField(default=dict, blank=True, editable=False)
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)
    # Our row, for the admin's inline on it (the lead page shows its records).
    target = GenericForeignKey("content_type", "object_id")

    class Meta:
        verbose_name = _("legacy record")
        verbose_name_plural = _("legacy records")
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "legacy_id"], name="legacy_record_unique_id"
            )
        ]
        indexes = [
            models.Index(fields=["batch", "collection"], name="legacy_record_batch_idx"),
            models.Index(fields=["content_type", "object_id"], name="legacy_record_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.collection}:{self.legacy_id}"


class MiniAnalysis(models.Model):
    """A record of the `mini_analyses` collection (seed 004) migrated into a
    lead: what the lead itself has no field for. The lead carries the person
    (e-mail, phone) and the dates; it is stored `no_crm`, so routing and
    billing leave it alone until staff route it ("Relancer")."""

    SOURCE = "mini-analysis-migration"

    class Status(models.TextChoices):
        # The values are the legacy system's (kept filterable as they were);
        # the labels say them in words.
        NEW = "NEW", _("new (not generated yet)")
        GENERATED = "GENERATED", _("generated")
        QUOTA_BLOCKED = "QUOTA_BLOCKED", _("blocked by the quota")
        ERROR = "ERROR", _("generation error")

    lead = models.OneToOneField(
        Lead,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="mini_analysis",
        verbose_name=_("lead"),
    )
    # The original record (its ObjectId), also in the batch's LegacyRecord.
    mini_analysis_id = models.CharField(_("mini-analysis id"), max_length=100, unique=True)
    status = models.CharField(
        _("mini-analysis status"), max_length=20, choices=Status.choices, db_index=True
    )
    brand_name = models.CharField(_("brand"), max_length=255, blank=True)
    sector = models.CharField(_("sector"), max_length=255, blank=True)
    language = models.CharField(_("language"), max_length=20, blank=True)
    pdf_url = models.URLField(_("PDF URL"), max_length=1000, blank=True)
    analysis_text = models.TextField(_("analysis text"), blank=True)
    source = models.CharField(_("source"), max_length=30, default=SOURCE, editable=False)
    original_created_at = models.DateTimeField(_("created at (original)"), null=True, blank=True)
    original_updated_at = models.DateTimeField(_("updated at (original)"), null=True, blank=True)
    migrated_at = models.DateTimeField(_("migrated at"), default=timezone.now)
    batch = models.ForeignKey(
        ImportBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("batch"),
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("mini-analysis")
        verbose_name_plural = _("mini-analyses")
        indexes = [models.Index(fields=["brand_name"], name="mini_analysis_brand_idx")]

    def __str__(self) -> str:
        return f"{self.brand_name or '-'} ({self.get_status_display()})"
