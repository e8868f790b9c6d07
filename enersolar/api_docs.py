"""The OpenAPI schema and its Swagger UI: public, or staff only
(API_DOCS_PUBLIC, off by default in production). The UI is drf-spectacular's
"split" view: its start-up script is a file of this site, not an inline
script, so it runs under the Content-Security-Policy."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .api_codes import api_message


class ApiDocsPermission(BasePermission):
    message = api_message("staff_only")
    code = "staff_only"

    def has_permission(self, request, view):
        user = request.user
        return settings.API_DOCS_PUBLIC or bool(user and user.is_active and user.is_staff)


class SchemaView(SpectacularAPIView):
    permission_classes = [ApiDocsPermission]


class DocsView(SpectacularSwaggerSplitView):
    permission_classes = [ApiDocsPermission]

    def handle_exception(self, exc):
        # A person, not a program: the login page, then back here.
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return redirect_to_login(self.request.get_full_path(), settings.LOGIN_URL)
        return super().handle_exception(exc)
