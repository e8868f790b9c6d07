"""The brief generator (scripts, escaping, parameters, conversion modes) and
GET /api/forms/<id>/brief (SPEC §9). The scripts' behaviour in a real browser
is tested in tests/browser/."""

import json
import re
import shutil
import subprocess
from decimal import Decimal

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from enersolar.roles import ADMIN, EDITOR, VIEWER
from enersolar.tests.factories import UserFactory
from tracking.brief import brief_build, js_literal, script_config, script_render
from tracking.models import Form
from tracking.tests.factories import FormFactory

pytestmark = pytest.mark.django_db

NASTY = "</script><script>alert(1)</script>&<!-- \u2028\u2029 \"' \\"


def script_config_of(source: str) -> dict:
    """The JSON object a generated script runs with."""
    match = re.search(r"var C = (\{.*?\});\n", source)
    assert match, "no configuration object in the script"
    return json.loads(match.group(1))


@pytest.fixture
def form(settings):
    settings.PUBLIC_BASE_URL = "https://crm.example.com"
    form = FormFactory(
        redirect_url="https://merci.example.com/pv",
        conversion_mode=Form.ConversionMode.BOTH,
        aid_maprimerenov=Decimal("4000.00"),
        aid_cee=Decimal("500.50"),
    )
    account = form.account
    account.logo_url = "https://cdn.example.com/logo.png"
    account.gtm_head = "<script>gtm('head')</script>"
    account.gtm_body = "<noscript>gtm body</noscript>"
    account.gtm_conversion = "<script>gtm('conversion')</script>"
    account.legal_notice = "Mentions légales"
    account.privacy_text = "RGPD"
    account.save()
    return form


# --- escaping -------------------------------------------------------------------


@pytest.mark.parametrize("value", [NASTY, {"a": NASTY, "b": [NASTY, 1, None]}, "é € ü"])
def test_js_literal_round_trips_and_cannot_close_a_script(value):
    literal = js_literal(value)
    assert json.loads(literal) == value
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in literal


def test_values_from_the_database_cannot_break_out_of_the_script(form):
    # Set behind the admin's back (no URL validation): the worst a field can hold.
    Form.objects.filter(pk=form.pk).update(redirect_url=f"https://x.example/?q={NASTY}")
    form.refresh_from_db()
    brief = brief_build(form, form_url=f"https://lp.example/{NASTY}")
    for source in (
        brief["mode_a"]["lp_script"],
        brief["mode_a"]["form_script"],
        brief["mode_b"]["script"],
    ):
        assert "</script" not in source.lower()
        assert "<!--" not in source
        assert script_config_of(source)["redirect_url"] == f"https://x.example/?q={NASTY}"
    assert script_config_of(brief["mode_a"]["lp_script"])["form_url"].endswith(NASTY)


def test_the_form_and_account_names_are_not_in_the_scripts(form):
    form.name = NASTY
    form.save()
    for source in brief_build(form)["mode_a"].values():
        assert "alert(1)" not in source


# --- parameters -----------------------------------------------------------------


def test_scripts_are_parameterised_with_the_form(form):
    config = script_config(form, kind="form")
    assert config["api"] == "https://crm.example.com"
    assert config["lp_code"] == form.landing_page.code
    assert config["form_code"] == form.code
    assert config["liaison_code"] == f"{form.landing_page.code}_{form.code}"
    assert config["redirect_url"] == "https://merci.example.com/pv"
    assert config["aids"] == {"maprimerenov": 4000, "cee": 500.5}
    assert config["conversion_mode"] == "both"


def test_api_base_can_be_given_and_loses_its_trailing_slash(form):
    assert script_config(form, kind="lp", api_base="http://127.0.0.1:9/")["api"] == (
        "http://127.0.0.1:9"
    )


def test_redirect_url_falls_back_to_the_account(form):
    form.redirect_url = ""
    form.save()
    form.account.redirect_url = "https://account.example.com/merci"
    assert script_config(form, kind="form")["redirect_url"] == "https://account.example.com/merci"


def test_form_url_only_goes_into_the_lp_script(form):
    assert script_config(form, kind="lp", form_url="https://f.example/")["form_url"] == (
        "https://f.example/"
    )
    assert script_config(form, kind="form", form_url="https://f.example/")["form_url"] == ""


def test_each_script_has_only_its_parts(form):
    lp = script_render(form, kind="lp")
    form_script = script_render(form, kind="form")
    integrated = script_render(form, kind="integrated")

    assert "lp_visit" in lp and "cta_click" in lp
    assert "rdzSubmitLead" not in lp and "form_start" not in lp
    assert "rdzSubmitLead" in form_script and "form_start" in form_script
    assert "lp_visit" not in form_script and "cta_click" not in form_script
    for part in ("lp_visit", "cta_click", "form_start", "rdzSubmitLead"):
        assert part in integrated
    # Mode A hands the session over to the form page; mode B has nothing to hand over.
    assert "C.session_param, id" in lp
    assert "C.session_param, id" not in integrated
    for source in (lp, form_script, integrated):
        assert source.lstrip().startswith("/*")
        assert "(function (w, d) {" in source and source.rstrip().endswith("})(window, document);")


def test_the_only_global_is_rdz_submit_lead(form):
    source = script_render(form, kind="integrated")
    assigned = set(re.findall(r"\bw\.([A-Za-z_$][\w$]*)\s*=(?!=)", source))
    assert assigned == {"rdzSubmitLead", "dataLayer"}


@pytest.mark.skipif(not shutil.which("node"), reason="Node.js not installed (syntax check)")
@pytest.mark.parametrize("kind", ["lp", "form", "integrated"])
def test_scripts_are_valid_javascript(form, kind, tmp_path):
    path = tmp_path / "script.js"
    path.write_text(script_render(form, kind=kind, form_url=f"https://lp.example/{NASTY}"))
    result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- conversion modes -------------------------------------------------------------


@pytest.mark.parametrize("mode", Form.ConversionMode.values)
def test_conversion_mode_reaches_the_form_scripts(form, mode):
    form.conversion_mode = mode
    form.save()
    brief = brief_build(form)
    for source in (brief["mode_a"]["form_script"], brief["mode_b"]["script"]):
        assert script_config_of(source)["conversion_mode"] == mode
        assert script_config_of(source)["gtm_event"] == "rdz_conversion"


def test_mini_brief_warns_about_a_redirect_without_url(form):
    form.redirect_url = ""
    form.conversion_mode = Form.ConversionMode.REDIRECT
    form.save()
    form.account.redirect_url = ""
    warnings = brief_build(form)["mini_brief"]["warnings"]
    assert len(warnings) == 1


def test_mini_brief_warns_about_gtm_without_snippet(form):
    form.conversion_mode = Form.ConversionMode.GTM
    form.account.gtm_head = ""
    assert len(brief_build(form)["mini_brief"]["warnings"]) == 1


def test_mini_brief_has_the_account_material(form):
    mini = brief_build(form)["mini_brief"]
    assert mini["account"] == form.account.name
    assert mini["logo_url"] == "https://cdn.example.com/logo.png"
    assert mini["gtm_head"] == "<script>gtm('head')</script>"
    assert mini["gtm_body"] == "<noscript>gtm body</noscript>"
    assert mini["gtm_conversion"] == "<script>gtm('conversion')</script>"
    assert mini["legal_notice"] == "Mentions légales"
    assert mini["privacy_text"] == "RGPD"
    assert mini["redirect_url"] == "https://merci.example.com/pv"
    assert mini["aids"] == {"maprimerenov": 4000, "cee": 500.5}
    assert mini["integration"]["cta_selector"] == "[data-rdz-cta]"
    assert mini["integration"]["submit_function"] == "rdzSubmitLead"
    assert mini["warnings"] == []


# --- GET /api/forms/<id>/brief ------------------------------------------------------


def url(form) -> str:
    return f"/api/forms/{form.pk}/brief"


@pytest.mark.parametrize("role", [ADMIN, EDITOR, VIEWER])
def test_every_role_reads_the_brief_with_its_session(form, role):
    client = APIClient()
    client.force_login(UserFactory(role=role))
    response = client.get(url(form))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "form_id",
        "form_code",
        "api_base",
        "mode_a",
        "mode_b",
        "thank_you_script",
        "mini_brief",
    }
    assert set(body["mode_a"]) == {"lp_script", "form_script"}
    assert set(body["mode_b"]) == {"script"}
    assert body["form_code"] == form.code
    assert body["api_base"] == "https://crm.example.com"
    assert body["mini_brief"]["form_code"] == form.code
    assert script_config_of(body["mode_a"]["form_script"])["form_code"] == form.code


def test_token_authentication(form):
    token = Token.objects.create(user=UserFactory(role=VIEWER))
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(url(form)).status_code == 200


def test_form_url_parameter(form):
    client = APIClient()
    client.force_login(UserFactory(role=VIEWER))
    body = client.get(url(form), {"form_url": "https://lp.example.com/form"}).json()
    assert script_config_of(body["mode_a"]["lp_script"])["form_url"] == (
        "https://lp.example.com/form"
    )


def test_anonymous_is_refused(form):
    response = APIClient().get(url(form))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["success"] is False


def test_staff_without_the_permission_is_refused(form):
    client = APIClient()
    client.force_login(UserFactory())  # staff, no role
    assert client.get(url(form)).status_code == 403


def test_non_staff_with_the_permission_is_refused(form):
    client = APIClient()
    client.force_login(UserFactory(role=VIEWER, is_staff=False))
    assert client.get(url(form)).status_code == 403


def test_unknown_form(form):
    client = APIClient()
    client.force_login(UserFactory(role=VIEWER))
    assert client.get("/api/forms/999999/brief").status_code == 404


def test_brief_is_in_the_openapi_schema():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/forms/{id}/brief"]["get"]
    assert operation["operationId"] == "form_brief"
    assert {} not in operation.get("security", [])
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"mode_a", "mode_b", "mini_brief"} <= set(body["properties"])
