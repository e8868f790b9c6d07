"""The production Content-Security-Policy in a real browser: the admin index
(dashboard), a lead page, the forms' cards, a brief and the Swagger UI work
under it, with no violation reported by Chromium."""

import pytest

from enersolar.tests.factories import UserFactory
from leads.tests.factories import LeadFactory
from tracking.models import Form

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-word-123"  # UserFactory's

# Every violation, whatever the console says about it.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


@pytest.fixture
def production_csp(demo_site, settings):
    settings.CONTENT_SECURITY_POLICY = settings.CSP_POLICY
    settings.API_DOCS_PUBLIC = False
    UserFactory(username="chef", is_superuser=True)
    return demo_site.url


def test_no_csp_violation_on_the_back_office_pages(page, console, screenshot, production_csp):
    base = production_csp
    form = Form.objects.get(code="PV-001")
    lead = LeadFactory(form=form, nom="Martin")
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.add_init_script(RECORD_VIOLATIONS)

    response = page.goto(f"{base}/admin/login/?next=/admin/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.fill("#id_username", "chef")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}/admin/")

    checks = [
        ("index", "/admin/", "#content"),
        ("lead", f"/admin/leads/lead/{lead.pk}/change/", "#lead_form"),
        ("cards", "/admin/tracking/form/", "article.rdz-card"),
        ("brief", f"/admin/tracking/form/{form.pk}/brief/", "textarea, pre, code"),
        ("docs", "/api/docs/", ".swagger-ui .info .title"),
    ]
    for step, path, ready in checks:
        page.goto(f"{base}{path}")
        page.locator(ready).first.wait_for(state="visible")
        page.wait_for_load_state("networkidle")
        violations = page.evaluate("window.__cspViolations")
        csp_errors = [e for e in errors if "Content Security Policy" in e]
        screenshot(step)
        assert violations == [], f"{path}: {violations}"
        assert csp_errors == [], f"{path}: {csp_errors}"
    assert console.page_errors == []
    # The docs really run: Swagger UI read the schema.
    assert "EnerSolar CRM API" in page.locator(".swagger-ui .info .title").inner_text()

    # The export page's "Select all" box works without its inline handler.
    page.goto(f"{base}/admin/leads/lead/export/")
    fields = page.locator('.selectable-field-export-row input[type="checkbox"]')
    page.locator("input.select-toggle").uncheck()
    assert not any(fields.nth(i).is_checked() for i in range(fields.count()))
    page.locator("input.select-toggle").check()
    assert all(fields.nth(i).is_checked() for i in range(fields.count()))
    assert page.evaluate("window.__cspViolations") == []
