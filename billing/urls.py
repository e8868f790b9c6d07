from django.urls import path

from . import apis

urlpatterns = [
    path("api/billing/cross-crm", apis.CrossCRMApi.as_view(), name="billing-cross-crm"),
    path(
        "api/billing/cross-crm/summary",
        apis.CrossCRMSummaryApi.as_view(),
        name="billing-cross-crm-summary",
    ),
    path("api/billing/budgets", apis.BudgetListApi.as_view(), name="billing-budgets"),
    path(
        "api/billing/budgets/<int:order_id>/ledger",
        apis.BudgetLedgerApi.as_view(),
        name="billing-budget-ledger",
    ),
    path(
        "api/billing/budgets/<int:order_id>/topup",
        apis.BudgetTopUpApi.as_view(),
        name="billing-budget-topup",
    ),
    path("api/leads/<uuid:lead_id>/return", apis.LeadReturnApi.as_view(), name="lead-return"),
]
