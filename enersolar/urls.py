from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("tracking.urls")),
    path("", include("leads.urls")),
    path("", include("routing.urls")),
    path("", include("billing.urls")),
]

# JSON errors under /api/, Django's pages elsewhere.
handler404 = "enersolar.http.api_not_found"
handler500 = "enersolar.http.api_server_error"
