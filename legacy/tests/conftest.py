import pytest

from enersolar import celery_app
from tests.buyer import buyer  # noqa: F401 - the fake buyer CRM fixture


@pytest.fixture
def celery_eager():
    """Tasks run in the caller's thread, so a hand-off through Celery is part
    of what a test exercises."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def freshness_beyond_the_dump(settings):
    """The dump's leads are months old: under the default freshness limit
    (72 h) every imported queued lead would expire before being sent, which
    is not what these tests look at (freshness: routing/tests/test_freshness.py)."""
    settings.LEAD_FRESHNESS_HOURS = 100 * 365 * 24
