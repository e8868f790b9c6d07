# The end-to-end test delivers through Celery, run eagerly as in routing's tests.
from routing.tests.conftest import celery_eager  # noqa: F401
