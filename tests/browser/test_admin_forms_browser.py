"""The back office in a real browser (SPEC §8): a staff member logs in through
the admin's login form, works with the forms' cards (counters, filters, copy
code), opens the lead list, a lead and the rejected leads. No console error
anywhere; screenshots in artifacts/."""

import re

import pytest

from enersolar.tests.factories import UserFactory
from leads.models import Lead
from leads.tests.factories import LeadFactory
from tracking.models import Form, TrackingEvent
from tracking.tests.factories import VisitorSessionFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pass-word-123"  # UserFactory's


@pytest.fixture
def back_office(demo_site):
    """The demo data, a PV-001 with 4 starts and 2 leads in two of their
    sessions (one rejected: not a finisher), and a superuser who logs in
    with a password."""
    pv = Form.objects.get(code="PV-001")
    sessions = []
    for _ in range(4):
        sessions.append(VisitorSessionFactory(form=pv))
        TrackingEvent.objects.create(session=sessions[-1], event_type="form_start", form=pv)
    lead = LeadFactory(form=pv, nom="Martin", session=sessions[0])
    rejected = LeadFactory(
        form=pv,
        session=sessions[1],
        phone="",
        phone_raw="0123456789",
        status=Lead.Status.INVALID_PHONE,
        reasons=["PHONE_INVALID"],
    )
    UserFactory(username="chef", is_superuser=True)
    return {"url": demo_site.url, "form": pv, "lead": lead, "rejected": rejected}


def log_in(page, base_url: str, next_path: str) -> None:
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", "chef")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base_url}{next_path}")


def assert_clean_console(console, errors: list[tuple[str, str]]):
    """No script error and no console error, but the favicon's 404: Chromium
    asks for /favicon.ico on its own and the admin declares none."""
    assert console.page_errors == [], console.page_errors
    assert [(text, url) for text, url in errors if not url.endswith("/favicon.ico")] == []


def test_forms_cards_then_leads_then_rejected_leads(page, console, screenshot, back_office):
    base, pv = back_office["url"], back_office["form"]
    errors: list[tuple[str, str]] = []
    page.on("console", lambda m: m.type == "error" and errors.append((m.text, m.location["url"])))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)

    log_in(page, base, "/admin/tracking/form/")

    cards = page.locator("article.rdz-card")
    assert cards.count() == 3  # PV-001, PAC-001, ITE-001 of the demo
    card = page.locator(f'article.rdz-card[data-form-code="{pv.code}"]')
    assert card.locator(".rdz-started").inner_text() == "4"
    assert card.locator(".rdz-finished").inner_text() == "1"
    assert card.locator(".rdz-conversion").inner_text() == "25,0 %"
    assert card.locator(".rdz-direct").inner_text() == "0"
    assert "LP-001" in card.inner_text() and "Démo Solaire" in card.inner_text()
    border = card.evaluate("e => getComputedStyle(e).borderTopColor")
    other = page.locator('article.rdz-card[data-form-code="PAC-001"]')
    assert border != other.evaluate("e => getComputedStyle(e).borderTopColor")  # by product

    card.get_by_role("button", name="Copier le code").click()
    copied = card.locator(".rdz-copied")
    copied.wait_for(state="visible")
    assert copied.get_attribute("data-copied") == pv.code
    assert page.evaluate("navigator.clipboard.readText()") == pv.code
    screenshot("cards")

    page.locator("a.rdz-product-chip", has_text="PAC").click()
    page.wait_for_url(re.compile(r"product=PAC"))
    assert [c.get_attribute("data-form-code") for c in cards.all()] == ["PAC-001"]

    page.goto(f"{base}/admin/leads/lead/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    screenshot("leads")
    page.locator(
        f'#result_list a[href^="/admin/leads/lead/{back_office["lead"].pk}/change/"]'
    ).click()
    page.wait_for_url(re.compile(rf"/admin/leads/lead/{back_office['lead'].pk}/change/"))
    assert "Routage et tentatives" in page.content()
    assert page.locator(".field-nom .readonly").inner_text() == "Martin"
    screenshot("lead")

    page.goto(f"{base}/admin/leads/rejectedlead/")
    assert rows.count() == 1
    assert "Téléphone invalide (envoyé : « 0123456789 »)" in rows.first.inner_text()
    screenshot("rejected")

    assert_clean_console(console, errors)
