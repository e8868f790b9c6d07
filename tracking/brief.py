"""The brief (SPEC §9): tracking scripts and a mini brief for marketers.

Everything a script needs (API base URL, codes, conversion mode, redirect URL,
aid amounts) goes in as one JSON object literal, escaped for an inline
<script> (no `<`, `>`, `&` or line separators), so a form or account name can
never break out of the script. The scripts themselves come from one template,
templates/brief/tracker.js, with only the parts each one needs:

- mode A, LP script: session (UTM/click ids from the URL), lp_visit, cta_click,
  the session id passed to the form page as `?rdz_sid=`;
- mode A, form script: session from the URL > sessionStorage > a new one,
  form_start, `window.rdzSubmitLead(data)`, GTM event and/or redirect;
- mode B (integrated): both on one page, no hand-over;
- the thank-you page's script: sends again the leads the form page could not
  (every script does, from the outbox in localStorage: see tracker.js).
"""

import json
import re
from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from .models import Form

# What the marketers put in their pages (documented in the mini brief).
CTA_SELECTOR = "[data-rdz-cta]"
NEXT_SELECTOR = "[data-rdz-next]"
AID_ATTRIBUTE = "data-rdz-aid"
SESSION_PARAM = "rdz_sid"
GTM_EVENT = "rdz_conversion"
SUBMIT_FUNCTION = "rdzSubmitLead"

# Browser-side waits (ms): short, a visitor is never held by a slow API.
TIMEOUT_MS = 4000
LEAD_TIMEOUT_MS = 8000
CTA_WAIT_MS = 1500
GTM_WAIT_MS = 2000

KINDS = {
    "lp": {"title": "script LP (mode A)", "lp": True, "form": False, "pass_session": True},
    "form": {"title": "script formulaire (mode A)", "lp": False, "form": True},
    "integrated": {"title": "script intégré (mode B)", "lp": True, "form": True},
    # Only sends the leads a form page could not (its outbox in localStorage).
    "thank_you": {"title": "script page de remerciement", "lp": False, "form": False},
}

# Characters that could end or confuse an inline <script>: the same escapes as
# Django's json_script, plus the JavaScript line separators.
_SCRIPT_ESCAPES = {
    ord("<"): "\\u003C",
    ord(">"): "\\u003E",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def js_literal(value) -> SafeString:
    """`value` as a JavaScript literal that is safe inside an HTML <script>."""
    text = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)
    return mark_safe(text.translate(_SCRIPT_ESCAPES))


def _amount(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def redirect_url(form: Form) -> str:
    return form.redirect_url or form.account.redirect_url


def script_config(
    form: Form, *, kind: str, api_base: str | None = None, form_url: str = ""
) -> dict:
    """The parameters a script runs with."""
    return {
        "kind": kind,
        "api": (api_base if api_base is not None else settings.PUBLIC_BASE_URL).rstrip("/"),
        "lp_code": form.landing_page.code,
        "form_code": form.code,
        "liaison_code": form.liaison_code,
        "conversion_mode": form.conversion_mode,
        "redirect_url": redirect_url(form),
        "gtm_event": GTM_EVENT,
        "form_url": form_url if kind == "lp" else "",
        "cta_selector": CTA_SELECTOR,
        "next_selector": NEXT_SELECTOR,
        "session_param": SESSION_PARAM,
        "aids": {
            "maprimerenov": _amount(form.aid_maprimerenov),
            "cee": _amount(form.aid_cee),
        },
        "timeout_ms": TIMEOUT_MS,
        "lead_timeout_ms": LEAD_TIMEOUT_MS,
        "cta_wait_ms": CTA_WAIT_MS,
        "gtm_wait_ms": GTM_WAIT_MS,
    }


def script_render(form: Form, *, kind: str, api_base: str | None = None, form_url: str = "") -> str:
    """One script (JavaScript source, without <script> tags)."""
    options = KINDS[kind]
    config = script_config(form, kind=kind, api_base=api_base, form_url=form_url)
    source = render_to_string(
        "brief/tracker.js",
        {
            **options,
            "config": js_literal(config),
            # In a /* comment */: only characters that cannot close it.
            "form_code_comment": re.sub(r"[^A-Za-z0-9_-]", "", form.liaison_code),
        },
    )
    # Template tags leave blank lines behind: drop them, the script stays small.
    return "\n".join(line for line in source.splitlines() if line.strip()) + "\n"


def script_tag(source: str) -> str:
    """A script as the snippet to paste into a page."""
    return f"<script>\n{source}</script>\n"


def mini_brief(form: Form) -> dict:
    """The account's material for this form: branding, GTM, legal texts, redirect."""
    account = form.account
    url = redirect_url(form)
    warnings = []
    if form.conversion_mode != Form.ConversionMode.GTM and not url:
        warnings.append(_("No thank-you URL: the visitor will not be redirected."))
    if form.conversion_mode != Form.ConversionMode.REDIRECT and not account.gtm_head:
        warnings.append(_("No GTM snippet: nothing will see the conversion event."))
    served = form.landing_page.form
    if served is None or served.pk != form.pk:
        warnings.append(
            _(
                "The landing page %(lp)s does not serve this form (it serves %(served)s): "
                "its visitors get the form it serves unless the page posts this form's code."
            )
            % {"lp": form.landing_page.code, "served": served.code if served else "—"}
        )
    if form.legacy_id:
        warnings.append(
            _(
                "Imported from the legacy system: its landing pages post the form's legacy id "
                "%(legacy_id)s as form_code, which reaches this form like its code %(code)s."
            )
            % {"legacy_id": form.legacy_id, "code": form.code}
        )
    return {
        "account": account.name,
        "form_code": form.code,
        "form_name": form.name,
        # What landing pages built on the legacy system post as form_code.
        "legacy_form_id": form.legacy_id or "",
        "product_type": form.product_type.code,
        "lp_code": form.landing_page.code,
        "lp_url": form.landing_page.url,
        "liaison_code": form.liaison_code,
        "logo_url": account.logo_url,
        "secondary_logo_url": account.secondary_logo_url,
        "gtm_head": account.gtm_head,
        "gtm_body": account.gtm_body,
        "gtm_conversion": account.gtm_conversion,
        "legal_notice": account.legal_notice,
        "privacy_text": account.privacy_text,
        "redirect_url": url,
        "conversion_mode": form.conversion_mode,
        "gtm_event": GTM_EVENT,
        "aids": {
            "maprimerenov": _amount(form.aid_maprimerenov),
            "cee": _amount(form.aid_cee),
        },
        "integration": {
            "cta_selector": CTA_SELECTOR,
            "next_selector": NEXT_SELECTOR,
            "aid_attribute": AID_ATTRIBUTE,
            "session_param": SESSION_PARAM,
            "submit_function": SUBMIT_FUNCTION,
        },
        "warnings": warnings,
    }


def brief_build(form: Form, *, api_base: str | None = None, form_url: str = "") -> dict:
    """The whole brief of a form, as GET /api/forms/<id>/brief answers it."""
    return {
        "form_id": form.pk,
        "form_code": form.code,
        "api_base": (api_base if api_base is not None else settings.PUBLIC_BASE_URL).rstrip("/"),
        "mode_a": {
            "lp_script": script_render(form, kind="lp", api_base=api_base, form_url=form_url),
            "form_script": script_render(form, kind="form", api_base=api_base),
        },
        "mode_b": {"script": script_render(form, kind="integrated", api_base=api_base)},
        "thank_you_script": script_render(form, kind="thank_you", api_base=api_base),
        "mini_brief": mini_brief(form),
    }
