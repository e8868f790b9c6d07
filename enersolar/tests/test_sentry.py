"""Error reporting to Sentry: on with SENTRY_DSN, off without. Each case in a
fresh interpreter (settings initialise the SDK once per process); the DSN
points to a closed local port, so nothing ever reaches the network."""

import json

from .test_settings import run_python

PRINT_SENTRY = (
    "import json, django; django.setup(); import sentry_sdk; "
    "client = sentry_sdk.get_client(); "
    "print(json.dumps({'active': client.is_active(), "
    "'dsn': client.options.get('dsn'), "
    "'pii': client.options.get('send_default_pii'), "
    "'integrations': sorted(client.integrations)}))"
)


def sentry_state(tmp_path, **env_vars) -> dict:
    result = run_python(tmp_path, PRINT_SENTRY, **env_vars)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_a_dsn_sentry_is_off(tmp_path):
    state = sentry_state(tmp_path, SENTRY_DSN="")

    assert state["active"] is False
    assert state["integrations"] == []


def test_with_a_dsn_django_and_celery_errors_are_reported_without_personal_data(tmp_path):
    dsn = "http://public@127.0.0.1:9/1"

    state = sentry_state(tmp_path, SENTRY_DSN=dsn)

    assert state["active"] is True
    assert state["dsn"] == dsn
    assert state["pii"] is False
    assert {"django", "celery"} <= set(state["integrations"])
