"""Admin building blocks shared by every app: the journal, masked secrets and
the fields that decide where leads go."""

import functools

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.admin import ExportActionMixin
from import_export.signals import post_export

from .csv_export import csv_response
from .destinations import can_manage_destinations, destination_change_record
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

    # Where leads go: every change to a form's destination fields (its own or
    # an inline row's) gets a journal entry with old → new and a mail.

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        _destination_record(request, form)

    def save_formset(self, request, form, formset, change):
        # A deleted row loses its pk in the save: keep it for the journal.
        removed = [
            (row.instance, row.instance.pk, row.destination_removed())
            for row in formset.deleted_forms
            if hasattr(row, "destination_removed") and row.instance.pk is not None
        ]
        super().save_formset(request, form, formset, change)
        for row in formset.forms:
            if row not in formset.deleted_forms:
                _destination_record(request, row)
        for instance, pk, changes in removed:
            instance.pk = pk
            destination_change_record(user=request.user, obj=instance, changes=changes)


def _destination_record(request, form) -> None:
    if hasattr(form, "destination_changes") and form.instance.pk is not None:
        changes = form.destination_changes()
        destination_change_record(user=request.user, obj=form.instance, changes=changes)


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
    empty keeps it, typing a new value replaces it. Secrets and
    `destination_fields` decide where leads go: the form remembers their
    values, so that `destination_changes()` gives old → new after the save
    (secrets masked). Who may change them is the admin's business
    (DestinationFieldsMixin).
    """

    secret_fields: tuple[str, ...] = ()
    destination_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Raw values, in memory only: what destination_changes() compares with.
        self._destination_before = {
            name: self._destination_value(name) for name in self._destination_names()
        }
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

    def _destination_names(self) -> list[str]:
        return [*self.destination_fields, *self.secret_fields]

    def _destination_value(self, name: str) -> str:
        field = self.instance._meta.get_field(name)
        if field.is_relation:
            related = getattr(self.instance, field.attname) and getattr(self.instance, name)
            return str(related) if related else ""
        return getattr(self.instance, name) or ""

    def _shown(self, name: str, value: str) -> str:
        return mask_secret(value) if name in self.secret_fields else value

    def destination_changes(self) -> list[dict]:
        """Old → new of each destination field the save changed (after save)."""
        changes = []
        for name in self._destination_names():
            old, new = self._destination_before[name], self._destination_value(name)
            if old != new:
                changes.append(
                    {"field": name, "old": self._shown(name, old), "new": self._shown(name, new)}
                )
        return changes

    def destination_removed(self) -> list[dict]:
        """Old → nothing, for a row the save deleted."""
        return [
            {"field": name, "old": self._shown(name, old), "new": ""}
            for name, old in self._destination_before.items()
            if old
        ]


class DestinationFieldsMixin:
    """For the admin (or inline) of a SecretFieldsForm: the form's destination
    fields and secrets are editable only with the `manage_destinations`
    permission; without it they are read-only, and a secret is then shown by
    a display of its mask, never by the field itself (the admin's read-only
    rendering would print the raw value)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.form.secret_fields:
            setattr(self, masked_name(name), _masked_display(self.model, name))

    def destinations_locked(self, request, obj=None) -> bool:
        return not can_manage_destinations(request.user)

    def _secrets_shown_masked(self, request, obj=None) -> bool:
        if obj is not None:
            editable = self.has_change_permission(request, obj)
        elif isinstance(self, admin.options.InlineModelAdmin):
            editable = self.has_add_permission(request, obj)
        else:
            editable = self.has_add_permission(request)
        return self.destinations_locked(request, obj) or not editable

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if self.destinations_locked(request, obj):
            readonly += [f for f in self.form.destination_fields if f not in readonly]
        if self._secrets_shown_masked(request, obj):
            readonly += [masked_name(f) for f in self.form.secret_fields]
        return readonly

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._secrets_shown_masked(request, obj):
            return fieldsets
        swap = {name: masked_name(name) for name in self.form.secret_fields}
        result, seen = [], set()
        for title, options in fieldsets:
            fields = []
            for f in options.get("fields", ()):
                f = swap.get(f, f) if isinstance(f, str) else f
                if f not in seen:
                    seen.add(f)
                    fields.append(f)
            result.append((title, {**options, "fields": fields}))
        return result


def masked_name(name: str) -> str:
    return f"{name}_masked"


def _masked_display(model, name: str):
    def display(obj):
        return mask_secret(getattr(obj, name, "")) or "—"

    display.short_description = model._meta.get_field(name).verbose_name
    return display


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


class StreamingCSVExportMixin(ExportActionMixin):
    """django-import-export's export (the list's button, the "export selected"
    action), written by enersolar.csv_export instead of a tablib Dataset: the
    rows are streamed as they are read (a million leads never sit in memory),
    formula-like cells neutralised, UTF-8 with a BOM."""

    def get_export_form_class(self):
        return _csp_export_form(super().get_export_form_class())

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        # The one place import-export turns a queryset into a file.
        if not self.has_export_permission(request):
            raise PermissionDenied
        resource_class = self.choose_export_resource_class(export_form, request)
        resource = resource_class(
            **self.get_export_resource_kwargs(request, export_form=export_form)
        )
        selected = self.get_export_resource_fields_from_form(export_form)
        resource.before_export(queryset)
        queryset = resource.filter_export(queryset)

        def rows():
            yield resource.get_export_headers(selected_fields=selected)
            for obj in resource.iter_queryset(queryset):
                yield resource.export_resource(obj, selected_fields=selected)

        response = csv_response(
            rows(), filename=self.get_export_filename(request, queryset, file_format)
        )
        post_export.send(sender=None, model=self.model)
        return response


@functools.cache
def _csp_export_form(form_class):
    """The export page's form, with the script that binds its "Select all"
    box without the inline handler the Content-Security-Policy blocks."""

    class ExportForm(form_class):
        @property
        def media(self):
            return super().media + forms.Media(js=["enersolar/export-select-all.js"])

        def _get_field_label(self, resource, field_name: str) -> str:
            # import-export titles the field's name ("Created At"): the
            # model field's verbose name instead, else the column's name.
            try:
                return capfirst(resource._meta.model._meta.get_field(field_name).verbose_name)
            except (AttributeError, FieldDoesNotExist):
                field = resource.fields.get(field_name)
                return capfirst(field.column_name if field else field_name)

    return ExportForm


# --- CSV export of an admin list ----------------------------------------------------

# Never in an export: credentials (outbound CRM keys are shown masked in the
# admin and must not leave it in full; password and key hashes neither).
SECRET_FIELDS = {"password", "api_key", "crm_override_api_key", "key_hash"}


@functools.cache
def export_resource(model) -> type[resources.ModelResource]:
    """Every field of `model` but its credentials."""
    secret = [f.name for f in model._meta.concrete_fields if f.name in SECRET_FIELDS]
    meta = type("Meta", (), {"model": model, "exclude": secret})
    return type(f"{model.__name__}ExportResource", (resources.ModelResource,), {"Meta": meta})


class CSVExportAdmin(StreamingCSVExportMixin):
    """The CSV export (list button, "export selected" action) of a model admin
    that keeps its own pages: put it first in the admin's bases. Exports every
    field but credentials unless the admin names its `resource_classes`."""

    # The admin's own change page (None: Django finds admin/<app>/<model>/…),
    # not import-export's.
    change_form_template = None

    def get_resource_classes(self, request):
        return self.resource_classes or [export_resource(self.model)]

    def init_change_list_template(self):
        if self.change_list_template:
            # Import-export's list template shows object tools only to users
            # who may add, which would hide read-only pages' own buttons
            # (process the queue, run the verification, issue statements):
            # keep the page's template, which includes the export button itself.
            self.import_export_change_list_template = None
        super().init_change_list_template()


# --- Permissions in words ------------------------------------------------------------

# Django stores a permission's name in English ("Can add partner API key"), in
# the database: the user and group pages show these labels instead.
_PERMISSION_ACTIONS = {
    "add": _("Can add %(name)s"),
    "change": _("Can change %(name)s"),
    "delete": _("Can delete %(name)s"),
    "view": _("Can view %(name)s"),
}


def permission_label(permission) -> str:
    """ "Configuration | clé API partenaire | Peut ajouter clé API partenaire"."""
    content_type = permission.content_type
    model = content_type.model_class()
    if model is None:
        return str(permission)
    action, _sep, model_name = permission.codename.partition("_")
    if action in _PERMISSION_ACTIONS and model_name == model._meta.model_name:
        name = _PERMISSION_ACTIONS[action] % {"name": model._meta.verbose_name}
    else:  # a Meta.permissions entry: its name is a msgid of the catalog
        name = gettext(permission.name)
    app = apps.get_app_config(model._meta.app_label).verbose_name
    return f"{app} | {model._meta.verbose_name} | {name}"


class PermissionLabelsMixin:
    """The permission pickers of the user and group pages, in words."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name in ("permissions", "user_permissions") and formfield is not None:
            formfield.label_from_instance = permission_label
        return formfield
