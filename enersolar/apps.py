from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _sync_after_migrate(sender, using="default", apps=None, **kwargs):
    from .jobs import jobs_sync
    from .reference import reference_data_sync
    from .roles import roles_sync

    reference_data_sync(apps, using=using)
    roles_sync(apps, using=using)
    jobs_sync(apps, using=using)


class EnersolarConfig(AppConfig):
    name = "enersolar"
    verbose_name = _("Configuration")

    def ready(self):
        from celery import signals
        from django.contrib.auth import get_user_model
        from django.core import checks
        from django.db.models.signals import m2m_changed

        from .checks import beat_schedule_check
        from .jobs import job_finished, job_started
        from .roles import staff_on_role_given
        from .workers import heartbeat_start, heartbeat_stop

        checks.register(beat_schedule_check)
        m2m_changed.connect(
            staff_on_role_given,
            sender=get_user_model().groups.through,
            dispatch_uid="enersolar_staff_on_role_given",
        )
        # What operators watch (README, "Monitoring"): the periodic jobs' runs
        # as beat fires them, and each worker's heartbeat.
        signals.task_prerun.connect(job_started, dispatch_uid="enersolar_job_started")
        signals.task_postrun.connect(job_finished, dispatch_uid="enersolar_job_finished")
        signals.worker_ready.connect(heartbeat_start, dispatch_uid="enersolar_heartbeat_start")
        signals.worker_shutdown.connect(heartbeat_stop, dispatch_uid="enersolar_heartbeat_stop")
        # Runs after every migrate and every flush (as between transactional
        # tests), once all apps' permissions exist: the roles always cover the
        # current models and the reference data is always there.
        post_migrate.connect(
            _sync_after_migrate, sender=self, dispatch_uid="enersolar_sync_after_migrate"
        )
