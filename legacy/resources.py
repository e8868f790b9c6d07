"""CSV import of leads (django-import-export): the same fields and the same
classification as the public API. Each row goes through leads.services.
lead_receive (source `import`): stored with its status and reasons, and a
valid lead is handed to delivery once the import is confirmed (committed),
exactly like a lead posted by a partner. A dry run (the preview) rolls
everything back, so nothing is stored or sent."""

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets

from leads.models import Lead
from leads.services import lead_receive
from tracking.models import Form

# The public API's body fields (SPEC §3.1), in the order of the CSV template.
LEAD_IMPORT_COLUMNS = (
    "form_code",
    "phone",
    "civilite",
    "nom",
    "prenom",
    "email",
    "departement",
    "code_postal",
    "ville",
    "adresse",
    *Lead.HOUSING_FIELDS,
    *Lead.PROJECT_FIELDS,
    "rgpd_consent",
    "newsletter",
    "lp_code",
    "liaison_code",
    "utm_campaign",
)
TRUE, FALSE = {"1", "true", "yes", "oui", "vrai", "x"}, {"0", "false", "no", "non", "faux", ""}


def _consent(value, default: bool) -> bool:
    text = str(value if value is not None else "").strip().lower()
    if text == "":
        return default
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError(text)


class LeadImportResource(resources.ModelResource):
    status = fields.Field(attribute="status", column_name="status", readonly=True)
    reasons = fields.Field(attribute="reasons", column_name="reasons", readonly=True)

    class Meta:
        model = Lead
        fields = (*LEAD_IMPORT_COLUMNS, "status", "reasons")
        import_id_fields = ("phone",)
        skip_unchanged = False
        clean_model_instances = False

    def get_instance(self, instance_loader, row):
        return None  # a CSV row is always a new lead, never an update

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if field.column_name in ("rgpd_consent", "newsletter"):
            return  # checked and passed on in import_instance
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        errors = {}
        data = {c: str(row.get(c) or "").strip() for c in LEAD_IMPORT_COLUMNS}
        if not data["phone"]:
            errors["phone"] = "phone is required"
        if not data["form_code"]:
            errors["form_code"] = "form_code is required"
        elif data["form_code"] and not _form_exists(data["form_code"]):
            errors["form_code"] = f"unknown form {data['form_code']!r}"
        for name, default in (("rgpd_consent", True), ("newsletter", False)):
            try:
                data[name] = _consent(row.get(name), default)
            except ValueError:
                errors[name] = f"not a yes/no value: {row.get(name)!r}"
        if errors:
            raise ValidationError(errors)
        instance._import_data = data

    def do_instance_save(self, instance, is_create):
        data = {k: v for k, v in instance._import_data.items() if v != ""}
        # A CSV line has no browser session: the form gives product, account and LP.
        lead = lead_receive(data=data, ip=None, source=Lead.Source.IMPORT).lead
        for model_field in Lead._meta.concrete_fields:
            setattr(instance, model_field.attname, getattr(lead, model_field.attname))
        instance._state.adding = False


def _form_exists(code: str) -> bool:
    code = code.strip()
    if code.isdigit():
        return Form.objects.filter(pk=int(code)).exists()
    return Form.objects.filter(code=code.upper()).exists()


class LeadExportResource(resources.ModelResource):
    product_type = fields.Field(
        attribute="product_type", column_name="product_type", widget=widgets.CharWidget()
    )
    account = fields.Field(attribute="account", column_name="account", widget=widgets.CharWidget())

    class Meta:
        model = Lead
        exclude = ("api_key", "session", "form", "landing_page")
