"""No English in the French back office (issue 15, point 3): a superuser
reading French visits every admin page — the dashboard, each model's list,
add and change pages, and the custom pages (billing, departments, exports,
form cards, a form's brief…) — and the test fails listing each page with the
English words it shows.

The pages come from the admin's URL patterns, so a new page is crawled
without touching this test. Text inside code (<pre>, <code>, <textarea>: the
brief's snippets), URLs and e-mail addresses is not read."""

import re
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from billing.services import budget_topup, lead_return
from enersolar.models import QualityMapping
from enersolar.tests.factories import UserFactory
from enersolar.tests.helpers import public_client
from leads.models import Lead
from routing.models import CRMHealth, DefaultPrice, Order
from routing.services.verification import verification_run
from tracking.models import Form

from .test_admin_dashboard_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Words an English admin shows and a French one never should (matched as
# whole words, case as written). Proper nouns and acronyms (ZR7, MDL, GTM,
# UTM, CRM, API, CSV) are French enough.
ENGLISH = [
    "Select all",
    "Created At",
    "Api key",
    "API key",
    "Permission required",
    "received",
    "Invalid",
    "Add",
    "Change",
    "Delete",
    "Save",
    "Search",
    "Filter",
    "Submit",
    "Show all",
    "Clear",
    "Today",
    "Yesterday",
    "Any date",
    "True",
    "False",
    "None",
    "Yes",
    "Unknown",
    "healthy",
    "warning",
    "depleted",
    "critical",
    "pending",
    "delivered",
    "failed",
    "success",
    "error",
    "topup",
    "top-up",
    "consumption",
    "Admin",
    "Editor",
    "Viewer",
    "Utm_source",
    "Utm_medium",
    "Utm_campaign",
    "success_without_attempt",
    "attempt_success_but_lead_not_delivered",
    "delivery_state_mismatch",
    "PHONE_INVALID",  # reason codes: shown in words
    "MISSING_REQUIRED",
    "FORM_NOT_FOUND",
    "routing.order",
    "leads.lead",
    "tracking.form",
    "Export",
    "Import",
    "selected",
    "items",
    "Recent actions",
    "My actions",
    "History",
    "Home",
    "Log out",
]
_ENGLISH = re.compile(r"(?<![\w-])(" + "|".join(re.escape(w) for w in ENGLISH) + r")(?![\w-])")
# Not prose: addresses and identifiers of the data.
_NOT_PROSE = re.compile(r"https?://\S+|\S+@\S+|(?<!\w)/\S*")

# GET views that are not pages: files, machinery, or POST-only actions.
SKIPPED = re.compile(
    r"(csv|pdf|logout|login|jsi18n|autocomplete|view_on_site|_run|_issue|_process"
    r"|retry_exhausted|duplicate|archive|process_import)$"
)

TEXT_OF_PAGE = """() => {
  const skip = new Set(["SCRIPT", "STYLE", "PRE", "CODE", "TEXTAREA", "NOSCRIPT", "TEMPLATE"]);
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let inside = node.parentElement, hidden = false;
    for (; inside; inside = inside.parentElement) {
      if (skip.has(inside.tagName)) { hidden = true; break; }
    }
    if (!hidden) parts.push(node.nodeValue);
  }
  document.querySelectorAll("input[type=submit], input[type=button]").forEach(
    (input) => parts.push(input.value));
  document.querySelectorAll("[placeholder]").forEach((e) => parts.push(e.placeholder));
  return parts.join(" | ");
}"""


def english_words(text: str) -> dict[str, str]:
    """Each English word of `text` with the words around its first occurrence."""
    prose = _NOT_PROSE.sub(" ", text)
    return {
        match[1]: prose[max(match.start() - 40, 0) : match.end() + 40].replace("\n", " ")
        for match in reversed(list(_ENGLISH.finditer(prose)))
    }


def test_english_words_are_found_outside_urls_and_code():
    assert set(english_words("Enregistrer | Save | https://x.fr/Delete | a@Search.fr")) == {"Save"}
    assert english_words("Statut : pending") == {"pending": "Statut : pending"}
    assert english_words("Tout sélectionner | Adresse | Additionner") == {}


def admin_pages(site_url: str) -> list[str]:
    """Every admin page a superuser can open with a GET: the site's own pages,
    each app's index, each model's pages (those of an object with its first
    row), from the URL patterns."""
    site = admin.site
    urls = [reverse("admin:index")]
    for pattern in site.get_urls():
        name = getattr(pattern, "name", None)
        page = name and name not in ("index", "app_list") and not SKIPPED.search(name)
        if page and not getattr(pattern.pattern, "converters", {}):
            urls.append(reverse(f"admin:{name}"))
    for app_label in {model._meta.app_label for model in site._registry}:
        urls.append(reverse("admin:app_list", kwargs={"app_label": app_label}))
    for model, model_admin in site._registry.items():
        first = model._default_manager.order_by("pk").first()
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if not name or SKIPPED.search(name):
                continue
            arguments = len(getattr(pattern.pattern, "converters", {}))
            if arguments == 0:
                urls.append(reverse(f"admin:{name}"))
            elif arguments == 1 and first is not None:
                urls.append(reverse(f"admin:{name}", args=[first.pk]))
    return [f"{site_url}{url}" for url in dict.fromkeys(urls)]


def demo_activity():
    """Leads of several fates, a top-up, a verification report: rows for
    every list, and words (statuses, levels, anomalies) on every page."""
    client = public_client()
    form = Form.objects.get(code="PV-001")
    for phone, nom in (("0612345678", "Martin"), ("0000", "Durand"), ("0698765432", "")):
        session = client.post(
            "/api/public/track/session", {"form_code": form.code}, format="json"
        ).json()
        body = {
            "session_id": session["session_id"],
            "form_code": form.code,
            "phone": phone,
            "nom": nom,
            "departement": "75",
            "utm_source": "facebook",
        }
        client.post("/api/public/leads", body, format="json")
        event = {"session_id": session["session_id"], "event_type": "cta_click"}
        client.post("/api/public/track/event", event, format="json")
    order = Order.objects.order_by("pk").first()
    budget_topup(order=order, amount=Decimal("100"))
    verification_run(triggered_by="test")
    delivered = Lead.objects.filter(status=Lead.Status.SUCCESS).first()
    lead_return(lead=delivered, reason="Numéro attribué à une autre personne")
    DefaultPrice.objects.create(
        crm=order.crm, product_type=order.product_type, unit_price=Decimal("20")
    )
    QualityMapping.objects.create(utm_campaign="printemps", quality_tier="premium")
    CRMHealth.objects.create(crm=order.crm, state=CRMHealth.State.OPEN, consecutive_failures=3)
    Token.objects.create(user=UserFactory(username="api-client", role="Viewer"))


def test_every_admin_page_is_in_french(page, demo_site):
    demo_activity()
    superuser_client = Client()
    superuser_client.force_login(UserFactory(username="checker", is_superuser=True))
    log_in(page, demo_site.url)

    english: dict[str, dict[str, str]] = {}
    visited = 0
    for url in admin_pages(demo_site.url):
        path = url.removeprefix(demo_site.url)
        answer = superuser_client.get(path)
        if answer.status_code != 200 or "text/html" not in answer.get("Content-Type", ""):
            continue
        page.goto(url)
        visited += 1
        found = english_words(page.evaluate(TEXT_OF_PAGE))
        if found:
            english[path] = found

    without_rows = sorted(
        model._meta.label for model in admin.site._registry if not model._default_manager.exists()
    )
    print(f"{visited} pages; models without a row (no change page): {without_rows}")
    assert visited > 80, visited
    report = "\n".join(
        f"{path}: " + "; ".join(f"{word} («{around}»)" for word, around in sorted(words.items()))
        for path, words in english.items()
    )
    assert not english, f"English on {len(english)} page(s):\n{report}"
