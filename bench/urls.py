"""The project's URLs plus the baseline: a bare Django view doing one INSERT."""

import json
import time

from django.core.exceptions import ImproperlyConfigured
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench.worktree import foreign_modules
from leads.models import Lead

# Loaded once per process, after the apps: refuse to measure another checkout's code.
if foreign := foreign_modules():
    raise ImproperlyConfigured(
        "the benchmark runs modules from outside its worktree: " + ", ".join(foreign)
    )


@csrf_exempt
@require_POST
def bare_lead(request):
    """Same stack (WSGI, middleware, ORM, table), none of DRF or the intake
    logic: parse the JSON body and insert one lead."""
    data = json.loads(request.body or b"{}")
    Lead.objects.create(
        status=Lead.Status.ORPHAN,
        register_date=int(time.time()),
        phone=str(data.get("phone") or "")[:20],
    )
    return JsonResponse({"ok": True})


urlpatterns = [
    path("bench/bare", bare_lead, name="bench-bare"),
    path("", include("enersolar.urls")),
]
