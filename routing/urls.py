from django.urls import path

from . import apis, lead_apis

urlpatterns = [
    path("api/queue/stats", apis.QueueStatsApi.as_view(), name="queue-stats"),
    path("api/queue/items", apis.QueueItemsApi.as_view(), name="queue-items"),
    path("api/queue/process", apis.QueueProcessApi.as_view(), name="queue-process"),
    path(
        "api/queue/retry-exhausted",
        apis.QueueRetryExhaustedApi.as_view(),
        name="queue-retry-exhausted",
    ),
    path("api/leads", lead_apis.LeadListApi.as_view(), name="leads-list"),
    path("api/leads/<uuid:lead_id>", lead_apis.LeadDetailApi.as_view(), name="lead-detail"),
    path("api/leads/<uuid:lead_id>/retry", apis.LeadRetryApi.as_view(), name="lead-retry"),
    path("api/verification/run", apis.VerificationRunApi.as_view(), name="verification-run"),
    path(
        "api/verification/status", apis.VerificationStatusApi.as_view(), name="verification-status"
    ),
    path(
        "api/verification/reports",
        apis.VerificationReportsApi.as_view(),
        name="verification-reports",
    ),
]
