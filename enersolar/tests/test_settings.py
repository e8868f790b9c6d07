"""Settings (ARCHITECTURE: settings and running): production refuses to start
without a secret key, DEBUG only when asked, SQLite in WAL mode."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db.utils import load_backend

PROJECT_DIR = settings.BASE_DIR
PRINT_SETTINGS = (
    "import json; from django.conf import settings; "
    "print(json.dumps({'SECRET_KEY': settings.SECRET_KEY, 'DEBUG': settings.DEBUG, "
    "'SESSION_COOKIE_SECURE': getattr(settings, 'SESSION_COOKIE_SECURE', False), "
    "'CSRF_COOKIE_SECURE': getattr(settings, 'CSRF_COOKIE_SECURE', False)}))"
)


def run_python(tmp_path, code: str, **env_vars: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the project's settings and only
    the given configuration variables (none inherited from this process)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DEBUG", "DJANGO_ENV", "DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="enersolar.settings",
        ENERSOLAR_VAR_DIR=str(tmp_path),
        **env_vars,
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_secret_key_refuses_to_start(tmp_path):
    result = run_python(
        tmp_path,
        "import django; from django.conf import settings; settings.SECRET_KEY",
        DJANGO_ENV="production",
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be set when DJANGO_ENV=production" in result.stderr


def test_production_with_an_empty_secret_key_refuses_to_start(tmp_path):
    result = run_python(tmp_path, PRINT_SETTINGS, DJANGO_ENV="production", SECRET_KEY="")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_production_starts_with_a_secret_key(tmp_path):
    result = run_python(
        tmp_path, PRINT_SETTINGS, DJANGO_ENV="production", SECRET_KEY="s3cr3t-for-the-test"
    )

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["SECRET_KEY"] == "s3cr3t-for-the-test"
    assert values["DEBUG"] is False
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True


def test_production_app_passes_the_system_checks(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=PROJECT_DIR,
        env={
            **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG"}},
            "DJANGO_ENV": "production",
            "SECRET_KEY": "s3cr3t-for-the-test",
            "ENERSOLAR_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_debug_is_off_by_default(tmp_path):
    result = run_python(tmp_path, PRINT_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["DEBUG"] is False


def test_debug_is_on_only_when_asked(tmp_path):
    result = run_python(tmp_path, PRINT_SETTINGS, DEBUG="true")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["DEBUG"] is True


def test_development_has_a_default_secret_key(tmp_path):
    result = run_python(tmp_path, PRINT_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["SECRET_KEY"]


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="WAL is a SQLite journal mode; this run uses another database",
)
def test_sqlite_connections_use_wal(tmp_path, django_db_blocker):
    # The test database lives in memory, where SQLite has no WAL: open a
    # connection with the configured settings on a database file instead.
    settings_dict = {**settings.DATABASES["default"], "NAME": str(tmp_path / "wal.sqlite3")}
    backend = load_backend(settings_dict["ENGINE"])
    connection = backend.DatabaseWrapper(settings_dict, alias="wal_check")
    try:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            assert cursor.fetchone()[0] == "wal"
            cursor.execute("PRAGMA synchronous")
            assert cursor.fetchone()[0] == 1  # NORMAL
    finally:
        connection.close()
