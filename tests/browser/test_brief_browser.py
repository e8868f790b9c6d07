"""The brief's scripts in a real browser against the real API (SPEC §9).

Headless Chromium (Debian's) drives the demo pages served by the live server:
the visit, the CTA, the form, the lead, its delivery to the sandbox buyer, and
a visitor who still reaches the thank-you page when the API is down."""

import re
import time

import pytest

from demo.models import SandboxReceipt
from leads.models import Lead
from routing.models import Delivery
from tracking.models import Form, TrackingEvent, VisitorSession

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UTM = "utm_source=facebook&utm_medium=cpc&utm_campaign=printemps&fbclid=fb-123"
NETWORK_FAILURE = re.compile(r"Failed to load resource|net::ERR_")


def eventually(check, timeout=8.0):
    """Beacons land a moment after the page moved on: poll the database."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def fill_form(page, *, code_postal: str, phone: str, nom: str = "Martin"):
    """Steps 1 → 2 → 3 with the visible "Suivant"/"Commencer" buttons, then the contact."""
    page.locator(".step.active button.next").click()
    page.fill("#code_postal", code_postal)
    page.locator(".step.active button.next").click()
    page.fill("#prenom", "Claire")
    page.fill("#nom", nom)
    page.fill("#phone", phone)
    page.fill("#email", "claire@example.com")
    page.check("input[name=rgpd_consent]")


def assert_clean_console(console):
    assert console.page_errors == [], console.page_errors
    assert console.errors == [], console.errors


def assert_tracked_and_delivered(*, lp_code, form_code, phone, crm="zr7"):
    def events_recorded():
        assert VisitorSession.objects.count() == 1
        session = VisitorSession.objects.get()
        types = sorted(TrackingEvent.objects.values_list("event_type", flat=True))
        assert types == ["cta_click", "form_start", "lp_visit"], types
        return session

    session = eventually(events_recorded)
    assert session.lp_code == lp_code and session.form_code == form_code
    assert (session.utm_source, session.utm_campaign, session.fbclid) == (
        "facebook",
        "printemps",
        "fb-123",
    )
    assert session.status == VisitorSession.Status.CONVERTED

    lead = Lead.objects.get()
    assert lead.session_id == session.pk
    assert lead.phone == phone
    assert (lead.lp_code, lead.form.code) == (lp_code, form_code)
    assert (lead.utm_source, lead.utm_medium, lead.utm_campaign) == ("facebook", "cpc", "printemps")
    assert lead.status == Lead.Status.SUCCESS, (lead.status, lead.reasons)
    delivery = Delivery.objects.get(lead=lead)
    assert delivery.crm.slug == crm and delivery.state == Delivery.State.SUCCESS
    receipt = SandboxReceipt.objects.get(buyer__slug=crm)
    assert receipt.status_code == 201
    assert receipt.payload["phone"] == phone


def test_mode_a_landing_page_then_form_then_thank_you(page, console, screenshot, demo_site):
    page.goto(f"{demo_site.url}/demo/lp/LP-001/?{UTM}")
    # The CTA the page adds after load: bound by the script's event delegation.
    late_cta = page.locator("#cta-late")
    late_cta.wait_for()
    screenshot("1-landing-page")
    late_cta.click()

    page.wait_for_url(re.compile(r"/demo/form/PV-001/\?"))
    session = VisitorSession.objects.get()
    assert f"rdz_sid={session.pk}" in page.url
    assert "utm_campaign=printemps" in page.url
    fill_form(page, code_postal="75011", phone="06 12 34 56 78")
    screenshot("2-form-filled")
    page.click("#rdz-submit")

    page.wait_for_url(f"{demo_site.url}/merci/")
    page.locator("#merci").wait_for()
    screenshot("3-thank-you")
    assert_tracked_and_delivered(lp_code="LP-001", form_code="PV-001", phone="0612345678")
    assert TrackingEvent.objects.filter(event_type="form_start").count() == 1
    assert_clean_console(console)


def test_mode_b_integrated_page(page, console, screenshot, demo_site):
    page.goto(f"{demo_site.url}/demo/integrated/LP-002/?{UTM}")
    # The aid amounts of the PAC form, filled in by the script.
    aid = page.locator("[data-rdz-aid=maprimerenov]")
    assert re.fullmatch(r"4\s?000\s?€", aid.inner_text()), aid.inner_text()
    page.click("#cta-main")  # an in-page anchor: tracked, the visitor stays here
    assert page.url.split("#")[0] == f"{demo_site.url}/demo/integrated/LP-002/?{UTM}"
    fill_form(page, code_postal="69003", phone="0698765431", nom="Durand")
    screenshot("1-integrated-form")
    page.click("#rdz-submit")

    page.wait_for_url(f"{demo_site.url}/merci/")
    screenshot("2-thank-you")
    assert_tracked_and_delivered(lp_code="LP-002", form_code="PAC-001", phone="0698765431")
    assert_clean_console(console)


def test_gtm_mode_pushes_the_conversion_and_stays(page, console, demo_site):
    Form.objects.filter(code="PV-001").update(conversion_mode=Form.ConversionMode.GTM)
    page.goto(f"{demo_site.url}/demo/form/PV-001/?utm_campaign=ete")
    fill_form(page, code_postal="75011", phone="0612345679")
    page.click("#rdz-submit")

    page.locator("#rdz-message", has_text="Merci").wait_for()
    assert page.url.startswith(f"{demo_site.url}/demo/form/PV-001/")
    pushed = page.evaluate("window.dataLayer.filter(e => e.event === 'rdz_conversion')")
    lead = Lead.objects.get()
    assert len(pushed) == 1
    assert pushed[0]["rdz_lead_id"] == str(lead.pk)
    assert pushed[0]["rdz_form_code"] == "PV-001"
    assert pushed[0]["rdz_liaison_code"] == "LP-001_PV-001"
    # The form page opened its own session (nothing in the URL or the tab).
    assert lead.session.form_code == "PV-001" and lead.utm_campaign == "ete"
    # The scripts leak nothing else into the page's globals.
    assert page.evaluate("typeof window.rdzSubmitLead") == "function"
    assert page.evaluate("typeof window.C + typeof window.track + typeof window.sid") == (
        "undefined" * 3
    )
    assert_clean_console(console)


def test_api_unreachable_the_visitor_still_reaches_the_thank_you_page(
    page, console, screenshot, demo_site
):
    # Every call to the public API fails as against a closed port.
    page.route("**/api/public/**", lambda route: route.abort("connectionrefused"))
    page.goto(f"{demo_site.url}/demo/lp/LP-001/?{UTM}")
    page.click("#cta-main")
    page.wait_for_url(re.compile(r"/demo/form/PV-001/"))
    assert "rdz_sid" not in page.url  # no session could be opened
    fill_form(page, code_postal="75011", phone="0612345678")
    page.click("#rdz-submit")

    page.wait_for_url(f"{demo_site.url}/merci/")
    screenshot("thank-you")
    assert not Lead.objects.exists() and not VisitorSession.objects.exists()
    assert console.page_errors == []
    # The browser reports the refused requests; nothing else went wrong.
    assert all(NETWORK_FAILURE.search(e) for e in console.errors), console.errors


def test_api_on_a_dead_port(page, console, demo_site, settings):
    # A script built with an API base nobody listens on (the demo data keeps
    # the thank-you URL of the live server).
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    page.goto(f"{demo_site.url}/demo/integrated/LP-003/")
    fill_form(page, code_postal="13001", phone="0612345670")
    page.click("#rdz-submit")

    page.wait_for_url(f"{demo_site.url}/merci/")
    assert not Lead.objects.exists()
    assert console.page_errors == []


def test_a_hanging_lead_api_times_out_and_the_visitor_goes_on(page, console, demo_site):
    # The session and the events work; the lead request never gets an answer.
    page.route("**/api/public/leads", lambda route: None)
    page.goto(f"{demo_site.url}/demo/form/PV-001/")
    fill_form(page, code_postal="75011", phone="0612345678")
    started = time.monotonic()
    page.click("#rdz-submit")

    page.wait_for_url(f"{demo_site.url}/merci/", timeout=20_000)
    assert 7 < time.monotonic() - started < 15  # the script's 8-second lead timeout
    assert console.page_errors == []


def test_admin_brief_page_copy_button(page, console, screenshot, demo_site):
    from django.test import Client

    from enersolar.tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(username="marketing", is_superuser=True))
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": demo_site.url}]
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo_site.url)
    # The admin has no favicon: not this test's business.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    form = Form.objects.get(code="PV-001")
    page.goto(f"{demo_site.url}/admin/tracking/form/{form.pk}/brief/")
    screenshot("admin-brief")

    page.locator("button.rdz-copy[data-target=mode-a-form]").click()
    page.locator("[data-target=mode-a-form] + .copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#mode-a-form").text_content()
    assert copied.startswith("<script>\n/* EnerSolar CRM") and "rdzSubmitLead" in copied
    assert_clean_console(console)


def test_rdz_submit_lead_contract(page, console, demo_site):
    Form.objects.filter(code="PV-001").update(conversion_mode=Form.ConversionMode.GTM)
    page.goto(f"{demo_site.url}/demo/form/PV-001/")

    # Refused by the API (no phone): nothing stored, no conversion, the page may retry.
    refused = page.evaluate("window.rdzSubmitLead({nom: 'Martin'})")
    assert refused["ok"] is False and refused["http_status"] == 400
    assert not Lead.objects.exists()
    assert page.evaluate("(window.dataLayer || []).length") == 0

    # A double click sends one lead; both calls get its answer.
    both = page.evaluate(
        """() => {
          const data = {phone: '0612345678', nom: 'Martin', code_postal: '75011'};
          return Promise.all([window.rdzSubmitLead(data), window.rdzSubmitLead(data)]);
        }"""
    )
    lead = Lead.objects.get()
    assert [r["lead_id"] for r in both] == [str(lead.pk)] * 2
    assert both[0]["ok"] is True and both[0]["redirecting"] is False
    assert page.evaluate("window.dataLayer.length") == 1
    # The refused request is the one console error the browser reports.
    assert console.page_errors == []
    assert len(console.errors) == 1 and "400" in console.errors[0], console.errors
