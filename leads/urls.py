from django.urls import path

from . import apis

urlpatterns = [
    path("api/public/leads", apis.PublicLeadApi.as_view(), name="public-leads"),
    path("api/v1/leads", apis.PartnerLeadApi.as_view(), name="partner-leads"),
]
