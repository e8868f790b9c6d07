"""The brief's demo pages: served only with SANDBOX_ENABLED, each with its script."""

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

PAGES = ["/demo/", "/demo/lp/LP-001/", "/demo/form/PV-001/", "/demo/integrated/LP-002/", "/merci/"]


@pytest.fixture
def demo(settings):
    settings.SANDBOX_ENABLED = True
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.mark.parametrize("path", PAGES)
def test_pages_render(demo, path):
    response = Client().get(path)
    assert response.status_code == 200
    assert b'<link rel="icon" href="data:,">' in response.content  # no favicon 404


@pytest.mark.parametrize("path", PAGES)
def test_pages_do_not_exist_without_the_sandbox(demo, settings, path):
    settings.SANDBOX_ENABLED = False
    assert Client().get(path).status_code == 404


def test_each_page_runs_its_script(demo):
    client = Client()
    lp = client.get("/demo/lp/LP-001/").content.decode()
    assert '"kind": "lp"' in lp and "data-rdz-cta" in lp
    assert 'href="http://127.0.0.1:8000/demo/form/PV-001/"' in lp
    form = client.get("/demo/form/PV-001/").content.decode()
    assert '"kind": "form"' in form and "rdzSubmitLead(data)" in form
    integrated = client.get("/demo/integrated/LP-002/").content.decode()
    assert '"kind": "integrated"' in integrated and '"form_code": "PAC-001"' in integrated
    # The PAC form shows its aid amounts (filled in by the script).
    assert 'data-rdz-aid="maprimerenov"' in integrated


@pytest.mark.parametrize("path", ["/demo/lp/LP-999/", "/demo/form/PV-999/"])
def test_unknown_codes(demo, path):
    assert Client().get(path).status_code == 404


def test_the_seeded_landing_page_urls_open_their_demo_page(demo):
    response = Client().get("/demo/pac/")
    assert response.status_code == 302 and response["Location"] == "/demo/lp/LP-002/"
    assert Client().get("/demo/nothing/").status_code == 404
