"""The tracker keeps a lead until the API accepted it (issue 12, point 3).

The brief's form script puts each lead in a localStorage outbox with a
client-generated id (Idempotency-Key + submission_id); on a network error, a
timeout, 408, 429 or 5xx it sends it again with backoff (honouring
Retry-After), and so does the thank-you page's script. Playwright's page.route
plays the failing API; the real one stores the lead."""

import json
import re
import threading
import time

import pytest

from leads.models import Lead

from .test_brief_browser import fill_form

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class FlakyLeadApi:
    """page.route handler for POST /api/public/leads: the first answers are
    the scripted failures, then the real API. Records every call."""

    def __init__(self, *failures):
        self.failures = list(failures)
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, route):
        request = route.request
        with self.lock:
            failure = self.failures.pop(0) if self.failures else None
            self.calls.append(
                {
                    "at": time.monotonic(),
                    "from": request.headers.get("referer", ""),
                    "key": request.headers.get("idempotency-key"),
                    "body": json.loads(request.post_data or "{}"),
                    "answer": failure or "api",
                }
            )
        if failure == "unreachable":
            route.abort("connectionrefused")
        elif failure is not None:
            status, headers = failure
            route.fulfill(
                status=status,
                headers={"Content-Type": "application/json", **headers},
                body=json.dumps({"success": False, "error": f"HTTP {status}"}),
            )
        else:
            route.continue_()


def submit_lead(page, demo_site, api: FlakyLeadApi, phone: str) -> float:
    page.route("**/api/public/leads", api)
    page.goto(f"{demo_site.url}/demo/form/PV-001/")
    fill_form(page, code_postal="75011", phone=phone)
    started = time.monotonic()
    page.click("#rdz-submit")
    page.wait_for_url(f"{demo_site.url}/merci/")
    return time.monotonic() - started


def wait_for_the_api(page, api: FlakyLeadApi, timeout: float = 20.0) -> None:
    """Until the real API answered once. Playwright's sync API runs the route
    handler only while the test calls into it: wait in the page, not asleep."""
    deadline = time.monotonic() + timeout
    while not (api.calls and api.calls[-1]["answer"] == "api"):
        assert time.monotonic() < deadline, f"the lead never reached the API: {api.calls}"
        page.wait_for_timeout(100)
    page.wait_for_timeout(300)  # its answer, and nothing sent after it


def assert_one_lead(page, api: FlakyLeadApi, phone: str) -> Lead:
    wait_for_the_api(page, api)
    lead = Lead.objects.get()
    assert lead.phone == phone
    assert lead.status == Lead.Status.SUCCESS, (lead.status, lead.reasons)
    # One submission: every try carried its id, as header and as body field.
    keys = {call["key"] for call in api.calls}
    assert keys == {call["body"]["submission_id"] for call in api.calls}
    assert len(keys) == 1
    assert lead.idempotency_key == f"public:{keys.pop()}"
    assert lead.consent_page_url.startswith(f"{api.calls[0]['from']}")
    return lead


def test_503_twice_then_200_stores_exactly_one_lead(page, console, demo_site):
    api = FlakyLeadApi((503, {}), (503, {}))
    waited = submit_lead(page, demo_site, api, "0612345671")

    assert waited < 3  # the visitor is not held by the retries
    assert_one_lead(page, api, "0612345671")
    assert [c["answer"] for c in api.calls] == [(503, {}), (503, {}), "api"]
    # Nothing left to send: another page with the script sends nothing more.
    page.goto(f"{demo_site.url}/merci/")
    page.wait_for_timeout(1500)
    assert len(api.calls) == 3
    assert page.evaluate("localStorage.getItem('rdz_outbox')") == "[]"
    assert console.page_errors == []


def test_api_unreachable_during_the_submit_the_thank_you_page_sends_the_lead(
    page, console, demo_site
):
    api = FlakyLeadApi("unreachable")
    submit_lead(page, demo_site, api, "0612345672")

    assert_one_lead(page, api, "0612345672")
    assert [c["answer"] for c in api.calls] == ["unreachable", "api"]
    assert re.search(r"/demo/form/PV-001/", api.calls[0]["from"])
    assert api.calls[1]["from"].endswith("/merci/")  # sent again by the thank-you page
    assert console.page_errors == []


def test_429_with_retry_after_the_lead_arrives_once_after_the_wait(page, console, demo_site):
    api = FlakyLeadApi((429, {"Retry-After": "2"}))
    submit_lead(page, demo_site, api, "0612345673")

    assert_one_lead(page, api, "0612345673")
    assert [c["answer"] for c in api.calls] == [(429, {"Retry-After": "2"}), "api"]
    assert api.calls[1]["at"] - api.calls[0]["at"] >= 1.9  # Retry-After honoured
    assert console.page_errors == []


def test_a_refused_lead_is_not_kept(page, console, demo_site):
    page.goto(f"{demo_site.url}/demo/form/PV-001/")
    refused = page.evaluate("window.rdzSubmitLead({nom: 'Martin'})")  # no phone: 400
    assert refused["ok"] is False and refused["http_status"] == 400
    assert page.evaluate("localStorage.getItem('rdz_outbox')") == "[]"
    assert not Lead.objects.exists()
