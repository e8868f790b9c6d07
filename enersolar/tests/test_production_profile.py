"""The hardened production profile: `check --deploy` clean, HSTS from
settings, a Content-Security-Policy, token guessing throttled per address,
no open redirect at login, the API docs staff-only when asked."""

import json
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from enersolar.roles import VIEWER
from enersolar.tests.factories import UserFactory
from tracking.tests.factories import FormFactory

PRODUCTION = {
    "DJANGO_ENV": "production",
    # A key as `check --deploy` wants it: long and random-looking.
    "SECRET_KEY": "k7Qm2vX9pL4sT8wZ1nB6cR3yH5jD0fG2aE9uI7oP4lK8mN1qW3eR6tY5uI0oP",
    "ALLOWED_HOSTS": "crm.example.com",
}


def run_production(tmp_path, *args, **env_vars) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DEBUG", "SECRET_KEY", "DJANGO_ENV", "REDIS_URL"}
    }
    env.update(PRODUCTION, ENERSOLAR_VAR_DIR=str(tmp_path), **env_vars)
    return subprocess.run(
        [sys.executable, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production(tmp_path):
    result = run_production(tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PRINT_SECURITY = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'hsts': s.SECURE_HSTS_SECONDS, 'sub': s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
    "'preload': s.SECURE_HSTS_PRELOAD, 'csp': bool(s.CONTENT_SECURITY_POLICY), "
    "'docs_public': s.API_DOCS_PUBLIC}))"
)


def test_production_defaults(tmp_path):
    result = run_production(
        tmp_path, "-c", PRINT_SECURITY, DJANGO_SETTINGS_MODULE="enersolar.settings"
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "hsts": 365 * 24 * 3600,
        "sub": True,
        "preload": True,
        "csp": True,
        "docs_public": False,
    }


def test_hsts_comes_from_the_settings(tmp_path):
    result = run_production(
        tmp_path,
        "-c",
        PRINT_SECURITY,
        DJANGO_SETTINGS_MODULE="enersolar.settings",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        SECURE_HSTS_PRELOAD="false",
    )

    values = json.loads(result.stdout)
    assert (values["hsts"], values["sub"], values["preload"]) == (600, False, False)


# --- Content-Security-Policy ----------------------------------------------------------


@pytest.fixture
def csp(settings):
    settings.CONTENT_SECURITY_POLICY = settings.CSP_POLICY


@pytest.mark.django_db
def test_pages_carry_the_policy_and_inline_styles_its_nonce(csp, admin_client):
    form = FormFactory()

    response = admin_client.get(f"/admin/tracking/form/{form.pk}/brief/")

    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    html = response.content.decode()
    assert f'<style nonce="{nonce}">' in html
    assert "<style>" not in html and "<script>" not in html


@pytest.mark.django_db
def test_no_policy_outside_production_unless_asked(client):
    assert "Content-Security-Policy" not in client.get("/admin/login/")


# --- Token guessing ------------------------------------------------------------------


@pytest.mark.django_db
def test_token_guessing_is_throttled_per_address():
    guesser = APIClient(REMOTE_ADDR="203.0.113.50")
    answers = [
        guesser.get("/api/queue/stats", HTTP_AUTHORIZATION=f"Token wrong{n:036d}").status_code
        for n in range(30)
    ]

    assert answers == [401] * 20 + [429] * 10
    # Another address with a good token is not concerned.
    token = Token.objects.create(user=UserFactory(is_superuser=True))
    other = APIClient(REMOTE_ADDR="198.51.100.7")
    assert other.get("/api/queue/stats", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


@pytest.mark.django_db
def test_a_good_token_is_never_counted():
    token = Token.objects.create(user=UserFactory(is_superuser=True))
    client = APIClient(REMOTE_ADDR="203.0.113.51")

    answers = {
        client.get("/api/queue/stats", HTTP_AUTHORIZATION=f"Token {token.key}").status_code
        for _ in range(25)
    }

    assert answers == {200}


@pytest.mark.django_db
def test_partner_key_guessing_is_throttled_too():
    guesser = APIClient(REMOTE_ADDR="203.0.113.52")
    answers = [
        guesser.post("/api/v1/leads", {}, format="json", HTTP_X_API_KEY=f"es_guess{n}").status_code
        for n in range(22)
    ]

    assert answers == [401] * 20 + [429] * 2


# --- Login redirect --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("unsafe", ["https://evil.example/", "//evil.example/x", "javascript:x"])
def test_login_with_an_unsafe_next_lands_on_the_admin_index(client, unsafe):
    UserFactory(username="ines", is_superuser=True)

    response = client.post(
        f"/admin/login/?next={unsafe}", {"username": "ines", "password": "pass-word-123"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


# --- API docs --------------------------------------------------------------------------


@pytest.mark.django_db
def test_docs_for_staff_only_when_not_public(settings, client):
    settings.API_DOCS_PUBLIC = False

    docs = client.get("/api/docs/")
    assert docs.status_code == 302
    assert docs["Location"].startswith("/admin/login/?next=/api/docs/")
    assert client.get("/api/schema/").status_code == 401

    client.force_login(UserFactory(role=VIEWER))
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/docs/?script=").status_code == 200
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.django_db
def test_docs_public_when_asked(settings, client):
    settings.API_DOCS_PUBLIC = True

    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
