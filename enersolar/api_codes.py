"""The API's answers: a stable machine `code` beside a French message.

Integrations test the `code`, never the prose (which may be reworded). The
messages are gettext msgids rendered in French whatever the request's
Accept-Language: the product is French, and one language keeps the answers
of a given code identical for every caller. README "API answers" lists the
codes; a new one is added here and there."""

from django.utils import translation
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException

# The language of every API message.
API_LANGUAGE = "fr"

MESSAGES = {
    # Success answers.
    "lead_received": _("Lead received."),
    "lead_stored": _("Lead stored."),
    "session_started": _("Session started."),
    "session_reused": _("Session resumed."),
    "event_recorded": _("Event recorded."),
    "event_duplicate": _("Event already recorded."),
    "lead_requeued": _("Lead queued to be sent again."),
    "lead_returned": _("Lead returned."),
    # Errors of the request.
    "invalid_fields": _("Invalid fields: %(fields)s."),
    "invalid_json": _("Body is not valid JSON (line %(line)s, column %(column)s)."),
    "json_too_deep": _("JSON nested deeper than %(depth)s levels."),
    "invalid_utf8": _("Body is not valid UTF-8 (byte %(byte)s)."),
    "body_not_object": _("Body is not a JSON object."),
    "body_too_large": _("Request body too large (limit %(limit)s bytes)."),
    "invalid_path": _("The path contains a control character."),
    "value_not_storable": _("A value of the request cannot be stored."),
    "not_authenticated": _("Authentication credentials were not provided."),
    "missing_api_key": _("Missing API key."),
    "authentication_failed": _("Invalid authentication credentials."),
    "invalid_api_key": _("Invalid or revoked API key."),
    "permission_required": _("Permission required: %(permission)s."),
    "permission_denied": _("You do not have permission to perform this action."),
    "staff_only": _("The API documentation is for staff only."),
    "not_found": _("Not found."),
    "unknown_session": _("Unknown session_id."),
    "unknown_form": _("Unknown or archived form."),
    "unknown_landing_page": _("Unknown landing page or no active form."),
    "method_not_allowed": _("Method %(method)s not allowed."),
    "not_acceptable": _("No answer in the format asked for (Accept header)."),
    "unsupported_media_type": _("Unsupported media type."),
    "throttled": _("Too many requests: retry in %(wait)s s."),
    "too_many_failed_authentications": _("Too many failed authentications from your address."),
    "lead_not_resendable": _("A lead in status “%(status)s” cannot be sent again."),
    "topup_not_positive": _("A top-up must be a positive amount."),
    "return_reason_missing": _("A return needs a reason."),
    "return_not_delivered": _("Only a delivered lead can be returned (status: %(status)s)."),
    "return_window_over": _("The return window (%(days)s days after delivery) is over."),
    "month_not_over": _("A month is billed once it is over."),
    # Errors of the service.
    "service_unavailable": _("Service temporarily unavailable, please retry."),
    "internal_error": _("Internal error."),
}


def api_message(code: str, **params) -> str:
    """The French message of `code`, `params` filled in."""
    with translation.override(API_LANGUAGE):
        text = str(MESSAGES[code])
        return text % {k: str(v) for k, v in params.items()} if params else text


def api_error_body(code: str, **params) -> dict:
    return {"success": False, "code": code, "error": api_message(code, **params)}


class ApiError(APIException):
    """An error answer with its code: `raise ApiError("unknown_form", 404)`."""

    def __init__(self, code: str, status_code: int = status.HTTP_400_BAD_REQUEST, **params):
        self.status_code = status_code
        super().__init__(detail=api_message(code, **params), code=code)
