"""What an import did: its batches, and for each imported row its legacy id.

Rather than a legacy column on every model, one mapping table: (collection,
legacy id) is unique, points to our row, tags it with its batch and keeps the
legacy fields we do not map (`extra`)."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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
