import pytest

from enersolar import celery_app
from tests.buyer import buyer  # noqa: F401 - the fake buyer CRM fixture


@pytest.fixture(autouse=True)
def celery_eager():
    """Tasks run in the caller's thread (and raise there), so a hand-off
    through Celery is part of what a test exercises."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def admin_inbox(settings, mailoutbox):
    """Where notify_admins writes: one admin address, the locmem outbox."""
    settings.ADMINS = [("Ops", "ops@example.com")]
    return mailoutbox
