"""Playwright (sync API) on Debian's Chromium against pytest-django's live server.

The root conftest skips `browser` tests only where no Chromium binary exists."""

import os
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which
    # Django takes for an async context; the ORM calls here are plain sync code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class ConsoleLog:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self):
        self.errors: list[str] = []
        self.page_errors: list[str] = []

    def attach(self, page):
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))


@pytest.fixture
def console():
    return ConsoleLog()


@pytest.fixture
def page(browser, console):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    console.attach(page)
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    """screenshot("step") saves artifacts/<test>-<step>.png and prints its path."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(step: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{step}.png".replace("[", "-").replace("]", "")
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path

    return take


@pytest.fixture
def demo_site(live_server, settings):
    """The demo data with the brief and the CRMs pointing at the live server,
    deliveries run inline (Celery eager), and a private rate-limit cache."""
    from enersolar import celery_app

    settings.PUBLIC_BASE_URL = live_server.url
    settings.SANDBOX_ENABLED = True
    # Every request comes from 127.0.0.1: a cache of our own keeps other test
    # runs sharing the Redis cache from eating this run's rate limit.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"browser-{uuid.uuid4()}",
        }
    }
    call_command(
        "seed_demo",
        crm_url_zr7=f"{live_server.url}/sandbox/crm/zr7/lead/api/create_lead/",
        crm_url_mdl=f"{live_server.url}/sandbox/crm/mdl/lead/api/create_lead/",
        stdout=open(os.devnull, "w"),  # noqa: SIM115
    )
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield live_server
    celery_app.conf.task_always_eager = eager
