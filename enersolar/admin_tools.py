"""Admin building blocks shared by every app: the journal and masked secrets."""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.utils.translation import gettext_lazy as _

from .models import ActivityLog, mask_secret
from .services import journal_record


class JournaledAdmin(admin.ModelAdmin):
    """Writes every admin add/change/delete to the activity journal too."""

    def log_addition(self, request, obj, message):
        journal_record(user=request.user, action=ActivityLog.Action.CREATE, obj=obj)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        journal_record(
            user=request.user,
            action=ActivityLog.Action.UPDATE,
            obj=obj,
            details={"changed": _changed_fields(message)},
        )
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            journal_record(user=request.user, action=ActivityLog.Action.DELETE, obj=obj)
        return super().log_deletions(request, queryset)


def _changed_fields(message) -> list[str]:
    # The admin's change message is a list like [{"changed": {"fields": [...]}}].
    fields: list[str] = []
    for part in message or []:
        if isinstance(part, dict) and "changed" in part:
            fields.extend(str(f) for f in part["changed"].get("fields", []))
    return fields


class SecretFieldsForm(forms.ModelForm):
    """A model form whose `secret_fields` are never sent back to the browser.

    Once saved, a secret shows as its last four characters; leaving the input
    empty keeps it, typing a new value replaces it.
    """

    secret_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secret_fields:
            field = self.fields.get(name)
            if field is None:
                continue
            field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})
            current = getattr(self.instance, name, "")
            if self.instance.pk and current:
                field.required = False
                # The input starts empty, so compare against empty: leaving it
                # empty is "unchanged", not "changed to the saved key".
                self.initial[name] = ""
                field.widget.attrs["placeholder"] = mask_secret(current)
                field.help_text = _("Saved: %(masked)s. Leave empty to keep it.") % {
                    "masked": mask_secret(current)
                }

    def clean(self):
        cleaned = super().clean()
        for name in self.secret_fields:
            if name in self.fields and not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name, "")
        return cleaned


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent, never edited there (attempts, lines)."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records nobody edits by hand (journal, reference data)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        if self.fields or self.fieldsets:
            return flatten_fieldsets(self.get_fieldsets(request, obj))
        return [f.name for f in self.model._meta.fields]
