"""Walking the URL resolver: every admin URL and API route of the project,
and how to call each for the permission matrix."""

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver

from routing.models import Order
from tests.permission_world import World


@dataclass(frozen=True)
class Route:
    name: str  # "admin:enersolar_crm_change", "api:queue-stats", …
    pattern: str  # the full route, as the resolver has it


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace, entry.name


def project_routes() -> list[Route]:
    """Every admin URL and every API route. Unnamed admin URLs get a name
    from their shape: `<model>_object` (the bare object URL, a redirect to
    its change page) and `catch_all`."""
    routes = []
    for pattern, namespace, name in _walk(get_resolver().url_patterns):
        if namespace == "admin:":
            if not name:
                if pattern.endswith("<path:object_id>/"):
                    app, model = pattern.split("/")[1:3]
                    name = f"{app}_{model}_object"
                else:
                    name = "catch_all"
            routes.append(Route(f"admin:{name}", pattern))
        elif pattern.startswith("api/"):
            routes.append(Route(f"api:{name}", pattern))
    return routes


def model_admins() -> dict[str, admin.ModelAdmin]:
    """`app_model` → its ModelAdmin, for every registered model."""
    return {
        f"{m._meta.app_label}_{m._meta.model_name}": model_admin
        for m, model_admin in admin.site._registry.items()
    }


def one_object(model_admin, superuser_request):
    return model_admin.get_queryset(superuser_request).order_by("pk").first()


def route_url(route: Route, world: World, objects: dict) -> str:
    """A concrete URL of `route` on the world's objects."""
    path = "/" + route.pattern
    if route.name == "admin:view_on_site":
        return f"/admin/r/{ContentType.objects.get(model='crm').pk}/1/"
    replacements = {
        "<path:object_id>": lambda: str(objects[_model_key(route)].pk),
        "<int:pk>": lambda: str(objects[_model_key(route)].pk),
        "<id>": lambda: str(world.users["viewer"].pk),
        "<uuid:lead_id>": lambda: str(world.lead.pk),
        "<int:order_id>": lambda: str(Order.objects.order_by("pk").first().pk),
        "<str:code>": lambda: "PV-001",
        "<str:lp_code>": lambda: "LP-001",
    }
    for token, value in replacements.items():
        if token in path:
            path = path.replace(token, value())
    if "(?P<app_label>" in path:
        path = "/admin/enersolar/"
    if "(?P<url>" in path:
        path = "/admin/no-such-page/"
    return path


def _model_key(route: Route) -> str:
    parts = route.pattern.split("/")
    if route.name.startswith("api:"):
        return "tracking_form"  # api/forms/<int:pk>/brief
    return f"{parts[1]}_{parts[2]}"
