"""Shared test setup: the suite runs on SQLite by default and on PostgreSQL +
Redis when DATABASE_URL / REDIS_URL are set (CI runs both). Browser tests run
wherever a Chromium binary and Playwright for Python are installed."""

import importlib.util
import os

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    """Debian's Chromium (or CHROMIUM_PATH); Playwright never downloads one."""
    for path in (os.environ.get("CHROMIUM_PATH"), *CHROMIUM_CANDIDATES):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _browser_skip_reason() -> str | None:
    if chromium_path() is None:
        return "no Chromium binary (apt-get install chromium, or set CHROMIUM_PATH)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    browser_skip = None
    if any("browser" in item.keywords for item in items):
        reason = _browser_skip_reason()
        browser_skip = reason and pytest.mark.skip(reason=reason)
    is_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    postgres_skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords and not is_postgres:
            item.add_marker(postgres_skip)
        if "browser" in item.keywords and browser_skip:
            item.add_marker(browser_skip)


@pytest.fixture(autouse=True)
def _default_language():
    """A request in English must not leave English active for the next test."""
    from django.utils import translation

    translation.activate("fr")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_process_caches():
    """Each test starts with empty configuration caches: a form cached by an
    earlier test lives on in the process after that test's rows were rolled
    back."""
    from enersolar.process_cache import process_caches_clear

    process_caches_clear()
    yield
    process_caches_clear()


@pytest.fixture(autouse=True)
def _fresh_admin_login_counter(monkeypatch):
    """Admin logins are counted per address for an hour, and in Redis that
    count would outlive the run: every test starts from its own empty one."""
    from django.core.cache.backends.locmem import LocMemCache

    from enersolar.http import AdminLoginThrottle

    counter = LocMemCache("admin-login-tests", {})
    counter.clear()  # instances of one name share their storage
    monkeypatch.setattr(AdminLoginThrottle, "cache", counter)


@pytest.fixture(autouse=True)
def _fresh_token_failure_counter(monkeypatch):
    """Failed token authentications are counted per address for an hour too:
    each test starts from an empty count of its own."""
    from django.core.cache.backends.locmem import LocMemCache

    from enersolar.http import TokenFailureThrottle

    counter = LocMemCache("token-failures-tests", {})
    counter.clear()
    monkeypatch.setattr(TokenFailureThrottle, "cache", counter)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Production hashing costs ~0.5 s per user: far too slow for a suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip(_browser_skip_reason() or "no Chromium")
    return path
