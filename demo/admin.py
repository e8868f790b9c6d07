from django.contrib import admin

from enersolar.admin_tools import CSVExportAdmin, JournaledAdmin, ReadOnlyAdmin

from .models import SandboxBuyer, SandboxReceipt


@admin.register(SandboxBuyer)
class SandboxBuyerAdmin(CSVExportAdmin, JournaledAdmin):
    list_display = ["slug", "mode", "delay_seconds", "received"]
    list_editable = ["mode", "delay_seconds"]


@admin.register(SandboxReceipt)
class SandboxReceiptAdmin(CSVExportAdmin, ReadOnlyAdmin):
    list_display = ["received_at", "buyer", "request_id", "status_code"]
    list_filter = ["buyer", "status_code"]
