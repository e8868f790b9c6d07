"""Error reporting to Sentry, on when SENTRY_DSN is set (settings.py).

The Django integration reports unhandled errors of requests, the Celery one
those of tasks (beat's included); logged errors are reported too (sentry-sdk's
logging integration). No personal data: no user, no IP, no cookie, no body
(`send_default_pii=False`).
"""


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float = 0.0) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        traces_sample_rate=traces_sample_rate,
    )
