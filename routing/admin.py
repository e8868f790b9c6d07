from django.contrib import admin

from enersolar.admin_tools import JournaledAdmin, SecretFieldsForm

from .models import Order


class OrderForm(SecretFieldsForm):
    secret_fields = ("api_key",)

    class Meta:
        model = Order
        fields = "__all__"


@admin.register(Order)
class OrderAdmin(JournaledAdmin):
    form = OrderForm
    list_display = [
        "__str__",
        "crm",
        "product_type",
        "unit_price",
        "priority",
        "is_active",
        "starts_on",
        "ends_on",
        "cap_daily",
        "api_key_masked",
    ]
    list_filter = ["is_active", "crm", "product_type"]
    search_fields = ["name", "crm__name"]
    list_select_related = ["crm", "product_type"]
    filter_horizontal = ["departments"]
