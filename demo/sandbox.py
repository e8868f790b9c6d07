"""The built-in pretend buyer: speaks the ZR7/MDL protocol so a fresh install
delivers end to end and staff can try a form without a real buyer.

Off in production unless SANDBOX_ENABLED is set."""

import json
import time

from django.conf import settings
from django.db.models import F
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import SandboxBuyer, SandboxReceipt

ANSWERS = {
    SandboxBuyer.Mode.CREATED: (201, {"success": True, "message": "Lead created"}),
    SandboxBuyer.Mode.SLOW: (201, {"success": True, "message": "Lead created (slowly)"}),
    SandboxBuyer.Mode.DOUBLON: (200, {"success": False, "message": "doublon"}),
    SandboxBuyer.Mode.BAD_REQUEST: (400, {"success": False, "message": "Invalid payload"}),
    SandboxBuyer.Mode.FORBIDDEN: (403, {"success": False, "message": "Invalid API key"}),
    SandboxBuyer.Mode.SERVER_ERROR: (500, {"success": False, "message": "Internal error"}),
}


@csrf_exempt
@require_POST
def sandbox_create_lead(request, slug: str):
    if not settings.SANDBOX_ENABLED:
        raise Http404
    buyer, _ = SandboxBuyer.objects.get_or_create(slug=slug)
    if buyer.mode == SandboxBuyer.Mode.SLOW:
        time.sleep(min(buyer.delay_seconds, 60))
    try:
        payload = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"success": False, "message": "Invalid JSON"}, status=400)
    if not request.headers.get("Authorization"):
        status, body = ANSWERS[SandboxBuyer.Mode.FORBIDDEN]
    elif not isinstance(payload, dict) or not payload.get("phone"):
        status, body = ANSWERS[SandboxBuyer.Mode.BAD_REQUEST]
    else:
        status, body = ANSWERS[SandboxBuyer.Mode(buyer.mode)]
    request_id = request.headers.get("Idempotency-Key", "")[:64]
    # A real buyer drops a lead it already has: the sandbox does too.
    if (
        status == 201
        and request_id
        and buyer.receipts.filter(request_id=request_id, status_code=201).exists()
    ):
        status, body = ANSWERS[SandboxBuyer.Mode.DOUBLON]
    SandboxReceipt.objects.create(
        buyer=buyer,
        request_id=request_id,
        payload=payload if isinstance(payload, dict) else {},
        status_code=status,
    )
    if status == 201:
        SandboxBuyer.objects.filter(pk=buyer.pk).update(received=F("received") + 1)
    return JsonResponse(body, status=status)
