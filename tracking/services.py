"""Writes on forms: duplicate, archive, override key replacement."""

from django.db import transaction

from enersolar.models import ActivityLog
from enersolar.services import journal_record

from .models import Form


@transaction.atomic
def form_duplicate(*, form: Form, user=None) -> Form:
    """A copy with a fresh code, on the same landing page; the key comes along."""
    source_code = form.code
    copy = Form.objects.get(pk=form.pk)
    copy.pk = None
    copy._state.adding = True
    copy.code = ""  # save() draws the next code of the product
    copy.name = f"{form.name} (copie)"
    copy.save()
    journal_record(
        user=user, action=ActivityLog.Action.DUPLICATE, obj=copy, details={"from": source_code}
    )
    return copy


def form_archive(*, form: Form, user=None) -> None:
    if form.status != Form.Status.ARCHIVED:
        form.status = Form.Status.ARCHIVED
        form.save(update_fields=["status"])
        journal_record(user=user, action=ActivityLog.Action.ARCHIVE, obj=form)


def form_override_key_replace(*, form: Form, api_key: str, user=None) -> None:
    """The one way to change a locked override key: explicit and journaled."""
    form.crm_override_api_key = api_key
    form.save(update_fields=["crm_override_api_key"])
    journal_record(
        user=user,
        action=ActivityLog.Action.KEY_REPLACE,
        obj=form,
        details={"key": form.crm_override_api_key_masked},
    )
