"""Landing pages allowed by their configuration (issue 12, point 4): the
public API answers cross-origin calls from the origin of every active landing
page's URL, plus the environment's list, within the configuration cache's
bound and without a restart."""

import pytest
from django.urls import reverse

from enersolar import process_cache
from enersolar.tests.helpers import public_client
from tracking.cors import url_origin
from tracking.models import LandingPage
from tracking.tests.factories import FormFactory, LandingPageFactory

pytestmark = pytest.mark.django_db

LP_ORIGIN = "https://www.example-lp.fr"
LEADS = "/api/public/leads"


def preflight(origin, path=LEADS):
    return public_client().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, idempotency-key",
    )


def actual(origin, path="/api/public/track/session"):
    return public_client().post(path, {}, format="json", HTTP_ORIGIN=origin)


@pytest.fixture
def landing_page():
    return LandingPageFactory(url=f"{LP_ORIGIN}/offre-solaire?src=fb")


def test_an_lp_added_in_the_admin_is_allowed_for_its_origin(landing_page, settings):
    settings.CORS_ALLOWED_ORIGINS = []

    answer = preflight(LP_ORIGIN)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == LP_ORIGIN
    assert "idempotency-key" in answer["Access-Control-Allow-Headers"]
    assert "POST" in answer["Access-Control-Allow-Methods"]

    answer = actual(LP_ORIGIN)
    assert answer.status_code == 200
    assert answer["Access-Control-Allow-Origin"] == LP_ORIGIN
    assert "Retry-After" in answer["Access-Control-Expose-Headers"]


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://www.example-lp.fr", "https://example-lp.fr"]
)
def test_other_origins_are_not_allowed(landing_page, origin):
    assert "Access-Control-Allow-Origin" not in preflight(origin)
    assert "Access-Control-Allow-Origin" not in actual(origin)


def test_only_the_public_api_answers_an_lp_origin(landing_page, admin_client):
    answer = admin_client.get("/admin/", HTTP_ORIGIN=LP_ORIGIN)
    assert "Access-Control-Allow-Origin" not in answer


def test_an_archived_lp_is_no_longer_allowed(landing_page):
    landing_page.status = LandingPage.Status.ARCHIVED
    landing_page.save()
    assert "Access-Control-Allow-Origin" not in preflight(LP_ORIGIN)


def test_the_environment_list_still_applies(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://env.example"]
    assert preflight("https://env.example")["Access-Control-Allow-Origin"] == "https://env.example"


def test_another_process_change_applies_within_the_cache_bound(monkeypatch, settings):
    clock = [1000.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: clock[0])
    lp = LandingPageFactory(url="https://old-lp.example/")
    assert preflight("https://old-lp.example")["Access-Control-Allow-Origin"]
    # Another process's edit: no signal reaches this one.
    LandingPage.objects.filter(pk=lp.pk).update(url=f"{LP_ORIGIN}/")

    clock[0] += settings.CONFIG_CACHE_SECONDS - 1
    assert "Access-Control-Allow-Origin" not in preflight(LP_ORIGIN)
    clock[0] += 2
    assert preflight(LP_ORIGIN)["Access-Control-Allow-Origin"] == LP_ORIGIN
    assert "Access-Control-Allow-Origin" not in preflight("https://old-lp.example")


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://www.Example-LP.fr/offre?x=1", "https://www.example-lp.fr"),
        ("http://lp.example:8080/a", "http://lp.example:8080"),
        ("https://lp.example:443/", "https://lp.example"),
        ("javascript:alert(1)", ""),
        ("", ""),
        ("https://lp.example:99999/", ""),
    ],
)
def test_url_origin(url, origin):
    assert url_origin(url) == origin


def test_the_brief_and_the_lp_page_say_whether_the_origin_is_allowed(admin_client, landing_page):
    form = FormFactory(landing_page=landing_page, account=landing_page.account)
    brief = admin_client.get(reverse("admin:tracking_form_brief", args=[form.pk]))
    assert f"Les appels depuis {LP_ORIGIN} sont autorisés" in brief.content.decode()
    lp_page = admin_client.get(reverse("admin:tracking_landingpage_change", args=[landing_page.pk]))
    assert f"Les appels depuis {LP_ORIGIN} sont autorisés" in lp_page.content.decode()

    LandingPage.objects.filter(pk=landing_page.pk).update(url="")
    brief = admin_client.get(reverse("admin:tracking_form_brief", args=[form.pk]))
    assert "Pas d&#x27;URL http(s) sur cette landing page" in brief.content.decode()
