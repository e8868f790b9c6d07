"""Correct a rejected lead in the admin (phone, department, postal code,
name) and send it again: the form and the admin view the Lead admin mixes
in (leads.corrections does the work)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from .admin import failure_reasons
from .corrections import (
    CORRECTABLE_FIELDS,
    CORRECTABLE_STATUSES,
    CorrectionRefused,
    lead_correct,
    lead_corrections,
)
from .models import Lead


class LeadCorrectionForm(forms.Form):
    """The values staff may correct, checked by the intake's rules
    (leads.corrections.lead_correction_clean) when submitted."""

    phone = forms.CharField(label=_("phone"), max_length=30, required=False)
    nom = forms.CharField(label=_("last name"), max_length=100, required=False)
    prenom = forms.CharField(label=_("first name"), max_length=100, required=False)
    code_postal = forms.CharField(label=_("postal code"), max_length=10, required=False)
    departement = forms.CharField(label=_("department"), max_length=3, required=False)

    def __init__(self, *args, lead: Lead, **kwargs):
        initial = {name: getattr(lead, name) for name in CORRECTABLE_FIELDS}
        # A phone the intake refused is stored only as sent: start from that.
        initial["phone"] = lead.phone or lead.phone_raw
        super().__init__(*args, initial=initial, **kwargs)

    def changes(self) -> dict:
        """The fields whose value differs from what the form was shown with."""
        return {name: self.cleaned_data[name] for name in self.changed_data}


class LeadCorrectionMixin:
    """ "Correct and send" for a rejected lead (invalid phone, missing field):
    a page of its own (`<id>/correct/`), reached from the lead page and from
    the `correct_lead` action of the lists; the lead's corrections (old → new)
    shown on its page. Editors and Admins (leads.change_lead)."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.correct_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_correct"
        return [path("<path:object_id>/correct/", view, name=name), *super().get_urls()]

    def has_correct_permission(self, request):
        return request.user.has_perm("leads.change_lead")

    @admin.action(description=_("Correct and send again"), permissions=["correct"])
    def correct_lead(self, request, queryset):
        leads = list(queryset[:2])
        if len(leads) != 1:
            self.message_user(request, _("Select one lead to correct."), messages.WARNING)
            return None
        return redirect(self._correct_url(leads[0]))

    def _correct_url(self, lead):
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_correct", args=[lead.pk]
        )

    def correct_view(self, request, object_id):
        if not self.has_correct_permission(request):
            raise PermissionDenied
        lead = get_object_or_404(Lead, pk=object_id)
        form = LeadCorrectionForm(request.POST or None, lead=lead, prefix="correct")
        if request.method == "POST" and form.is_valid():
            try:
                result = lead_correct(lead=lead, changes=form.changes(), user=request.user)
            except CorrectionRefused as refused:
                for field, message in refused.errors.items():
                    form.add_error(None if field not in form.fields else field, message)
            else:
                if result.sent:
                    self.message_user(request, _("Lead corrected and sent again."))
                else:
                    self.message_user(
                        request,
                        _("Lead corrected, still not delivered: %(status)s.")
                        % {"status": result.lead.get_status_display()},
                        messages.WARNING,
                    )
                return redirect(reverse("admin:leads_lead_change", args=[lead.pk]))
        return TemplateResponse(
            request,
            "admin/leads/correct_lead.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Correct a rejected lead"),
                "lead": lead,
                "why": failure_reasons(lead),
                "correctable": lead.status in CORRECTABLE_STATUSES,
                "form": form,
            },
        )

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        """The page the admin would render, with a "Correct and send again"
        button among its object tools for those who may use it."""
        response = super().render_change_form(request, context, *args, obj=obj, **kwargs)
        correctable = obj is not None and obj.status in CORRECTABLE_STATUSES
        if correctable and self.has_correct_permission(request):
            response.context_data["correct_url"] = self._correct_url(obj)
            response.context_data["correction_base"] = select_template(
                [response.template_name]
                if isinstance(response.template_name, str)
                else response.template_name
            )
            response.template_name = "admin/leads/lead_change_form.html"
        return response

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        return [*fieldsets, (_("Corrections"), {"fields": ["corrections"]})]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "corrections"]

    @admin.display(description=_("corrections (old → new)"))
    def corrections(self, obj):
        rows = [
            (
                date_format(localtime(entry.created_at), "SHORT_DATETIME_FORMAT"),
                entry.user or "—",
                Lead._meta.get_field(field).verbose_name,
                change.get("old") or "—",
                change.get("new") or "—",
            )
            for entry in lead_corrections(obj)
            for field, change in entry.details["correction"].items()
        ]
        if not rows:
            return _("No correction.")
        return format_html(
            '<ul class="rdz-corrections">{}</ul>',
            format_html_join("", "<li>{} · {} · {} : « {} » → « {} »</li>", rows),
        )
