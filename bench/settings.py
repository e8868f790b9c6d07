"""Settings for the load benchmark: the project's own settings, plus the bare
baseline view, rate limits too high to bite (the throttles still run) and
WARNING-level logging. Used as DJANGO_SETTINGS_MODULE=bench.settings."""

from enersolar.settings import *  # noqa: F403
from enersolar.settings import LOGGING, REST_FRAMEWORK

ROOT_URLCONF = "bench.urls"

# DEBUG would keep every query in memory and distort the measure.
DEBUG = False

# The throttle classes stay (their cache round trips are part of the cost), but
# the limits are out of reach. Per second rather than per minute: DRF keeps one
# timestamp per request over the whole period, so a one-second period keeps
# that list about as short as the real 20/min or 120/min limits do.
BENCH_RATE = "100000000/s"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "public_tracking": BENCH_RATE,
        "public_leads": BENCH_RATE,
        "partner": BENCH_RATE,
    },
}

LOG_LEVEL = "WARNING"
LOGGING = {
    **LOGGING,
    "root": {**LOGGING["root"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": LOG_LEVEL}},
}
