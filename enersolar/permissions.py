"""Role permissions for the staff API."""

from rest_framework.permissions import BasePermission

from .api_codes import api_message


def has_perm(codename: str) -> type[BasePermission]:
    """A DRF permission class: an active staff user holding `app.codename`."""

    class HasPerm(BasePermission):
        message = api_message("permission_required", permission=codename)
        code = "permission_required"

        def has_permission(self, request, view):
            user = request.user
            return bool(user and user.is_active and user.is_staff and user.has_perm(codename))

    HasPerm.__name__ = f"HasPerm[{codename}]"
    return HasPerm
