import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enersolar.settings")

app = Celery("enersolar")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections_checked(task=None, **kwargs):
    """Around each task, what Django does around each request: drop a
    connection past CONN_MAX_AGE or left unusable by an error (and health
    check it before reuse, CONN_HEALTH_CHECKS). Celery's own fix-up would
    close it after every task (see CELERY_DB_REUSE_MAX), and a new
    PostgreSQL connection costs more than delivering a few leads. Not for
    eager tasks: they run inside the caller's transaction."""
    if task is not None and not task.request.is_eager:
        close_old_connections()
