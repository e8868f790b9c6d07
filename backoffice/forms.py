from datetime import datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enersolar.models import CRM
from leads.models import Lead

from .selectors import day_start

DEFAULT_DAYS = 30
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class DepartmentsFilterForm(forms.Form):
    """The departments dashboard's filters (GET). Dates are Paris days, both included."""

    date_from = forms.DateField(label=_("from"), widget=DATE_INPUT)
    date_to = forms.DateField(label=_("to"), widget=DATE_INPUT)
    scope = forms.ChoiceField(
        label=_("leads"),
        choices=[
            ("valid", _("valid (rejections at intake left out)")),
            ("delivered", _("delivered")),
            ("all", _("all")),
        ],
        required=False,
    )
    crm = forms.ModelChoiceField(
        label=_("CRM"), queryset=CRM.objects.order_by("name"), required=False
    )
    crm_role = forms.ChoiceField(
        label=_("as"),
        choices=[("target", _("target CRM")), ("origin", _("origin CRM"))],
        required=False,
    )
    source = forms.ChoiceField(
        label=_("source"), choices=[("", _("all sources")), *Lead.Source.choices], required=False
    )

    def __init__(self, data, *, now: datetime):
        today = timezone.localdate(now)
        data = data.copy()
        # The default period: the last 30 days, today included.
        defaults = {"date_from": today - timedelta(days=DEFAULT_DAYS - 1), "date_to": today}
        for name, default in defaults.items():
            if not data.get(name):
                data[name] = default.isoformat()
        super().__init__(data)

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end date is before the start date."))
        data["scope"] = data.get("scope") or "valid"
        data["crm_role"] = data.get("crm_role") or "target"
        return data

    def selection(self) -> dict:
        """Keyword arguments of selectors.department_counts (call after is_valid())."""
        data = self.cleaned_data
        return {
            "start": day_start(data["date_from"]),
            "end": day_start(data["date_to"] + timedelta(days=1)),
            "scope": data["scope"],
            "crm": data["crm"],
            "crm_role": data["crm_role"],
            "source": data["source"],
        }
