from django.contrib import admin
from django.urls import include, path

from enersolar.api_docs import DocsView, SchemaView
from enersolar.health import ReadinessApi

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="api-docs"),
    # /healthz and /metrics: answered by enersolar.health.ProbeMiddleware.
    path("api/readiness", ReadinessApi.as_view(), name="readiness"),
    path("", include("tracking.urls")),
    path("", include("leads.urls")),
    path("", include("routing.urls")),
    path("", include("billing.urls")),
    # The sandbox buyer and the demo pages (404 unless SANDBOX_ENABLED).
    path("", include("demo.urls")),
]

# JSON errors under /api/, Django's pages elsewhere.
handler404 = "enersolar.http.api_not_found"
handler500 = "enersolar.http.api_server_error"
