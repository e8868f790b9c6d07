from django.urls import path

from . import apis

urlpatterns = [
    path("api/billing/cross-crm", apis.CrossCRMApi.as_view(), name="billing-cross-crm"),
    path(
        "api/billing/cross-crm/summary",
        apis.CrossCRMSummaryApi.as_view(),
        name="billing-cross-crm-summary",
    ),
    path("api/leads/<uuid:lead_id>/return", apis.LeadReturnApi.as_view(), name="lead-return"),
]
