from django.contrib import admin
from django.urls import include, path

from enersolar.api_docs import DocsView, SchemaView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="api-docs"),
    path("", include("tracking.urls")),
    path("", include("leads.urls")),
    path("", include("routing.urls")),
    path("", include("billing.urls")),
]
