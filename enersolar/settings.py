"""Settings for EnerSolar CRM.

Defaults give the embedded setup (SQLite, a file-system Celery broker, console
e-mail, DEBUG off); production values come from the environment. See README.md
for every variable.
"""

from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from import_export.formats import base_formats

from enersolar.beat import JOBS as BEAT_JOBS
from enersolar.beat import beat_schedule, setting_name

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("ENERSOLAR_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
IS_PRODUCTION = DJANGO_ENV == "production"
DEBUG = env.bool("DEBUG", default=False)

if IS_PRODUCTION:
    if not env.str("SECRET_KEY", default=""):
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production.")
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only-key")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL of this service, used in the brief scripts and demo CRM URLs.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # django.contrib.admin, with the back office's site (dashboard as its index).
    "backoffice.apps.EnerSolarAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "enersolar",
    "tracking",
    "leads",
    "routing",
    "billing",
    # Dashboards: read every business app above, imported by none.
    "backoffice",
    "import_export",
    "axes",
    # Legacy migration, CSV import/export, RGPD: on top of every other app.
    "legacy",
    # The demo floor (sandbox buyer, demo pages, seed_demo): imports the apps above.
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy (CONTENT_SECURITY_POLICY below; none when None).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "enersolar.http.PublicBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Under /api/, French whatever Accept-Language says (enersolar.api_codes).
    "enersolar.http.ApiLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
]

# Admin brute-force protection (django-axes): after AXES_FAILURE_LIMIT failed
# logins for one username from one address, that pair is locked for
# AXES_COOLOFF_HOURS. The pair, not the address alone, so one attacker cannot
# lock a whole office out behind its NAT. `manage.py axes_reset` unlocks.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failed login kept, for the admins to read
# The same client address as the rate limits: X-Forwarded-For only from trusted proxies.
AXES_CLIENT_IP_CALLABLE = "enersolar.http.client_ip"

ROOT_URLCONF = "enersolar.urls"
WSGI_APPLICATION = "enersolar.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at
    # BEGIN, so web and worker queue up (busy timeout) instead of failing with
    # "database is locked" when a read transaction tries to upgrade to a write.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The covering indexes' INCLUDE columns are a PostgreSQL speed-up; SQLite
    # builds the same indexes on their key columns, which is all it needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
elif env.bool("DATABASE_POOL", default=False):
    # psycopg's pool inside each process; incompatible with persistent connections.
    _db["CONN_MAX_AGE"] = 0
    # A Celery worker thread holds its connection for a whole task: the pool
    # must have room for every thread (WORKER_CONCURRENCY, 16 by default).
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
        "timeout": 10,
    }
else:
    _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    _db["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Forms, routing entries and quality mappings are cached in each process for
# the public endpoints: an edit is seen at once by the process that saved it,
# by every other process at most this many seconds later.
CONFIG_CACHE_SECONDS = env.float("CONFIG_CACHE_SECONDS", default=10)

# --- Cache ----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Where a login goes when its `next` is missing or unsafe (another host).
LOGIN_REDIRECT_URL = "admin:index"

# --- I18n: UTC in the database, Paris time and French in the UI ------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production, serve static files straight from the apps (no collectstatic).
WHITENOISE_USE_FINDERS = not IS_PRODUCTION

# --- E-mail ---------------------------------------------------------------------
vars().update(env.email("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="EnerSolar CRM <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ADMINS = [("Admin", a) for a in env.list("ADMIN_EMAILS", default=[])]

# --- Security ---------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    if env.bool("BEHIND_TLS_PROXY", default=True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Least privilege: the production profile (issue 13) -----------------------------
if IS_PRODUCTION:
    # HSTS: a year, sub-domains included, eligible for the browsers' preload lists.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Content-Security-Policy (django-csp): scripts and <style> blocks from this
# site or carrying the request's nonce only; style attributes (bar widths) are
# allowed, they cannot run code. On in production, elsewhere with CSP_ENABLED.
CSP_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src-attr": [csp_constants.UNSAFE_INLINE],
        # Account logos are on the accounts' own sites.
        "img-src": [csp_constants.SELF, "data:", "https:"],
        "font-src": [csp_constants.SELF, "data:"],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    }
}
CONTENT_SECURITY_POLICY = CSP_POLICY if env.bool("CSP_ENABLED", default=IS_PRODUCTION) else None
# The OpenAPI schema (/api/schema/) and docs (/api/docs/): for everybody, or
# for staff only (the default in production).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=not IS_PRODUCTION)

# CORS: only the public API answers cross-origin requests, and only to the
# landing pages' origins.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOWED_ORIGIN_REGEXES = env.list("CORS_ALLOWED_ORIGIN_REGEXES", default=[])
CORS_ALLOW_CREDENTIALS = env.bool("CORS_ALLOW_CREDENTIALS", default=True)
CORS_URLS_REGEX = r"^/api/(public|forms/public|forms/config|v1)/.*$"
# Also allowed: the origins of the landing pages configured in the admin
# (tracking.cors). The tracker sends Idempotency-Key and reads Retry-After.
CORS_ALLOW_HEADERS = (*cors_default_headers, "idempotency-key")
CORS_EXPOSE_HEADERS = ["Retry-After", "Idempotent-Replayed"]

# --- REST framework -----------------------------------------------------------------
# Public endpoints: body limit (413) and per-client-IP rate limits (429).
PUBLIC_MAX_BODY_BYTES = env.int("PUBLIC_MAX_BODY_BYTES", default=32 * 1024)
# Proxies (IPs or CIDRs) whose X-Forwarded-For is believed, e.g. the load balancer.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

REST_FRAMEWORK = {
    # The token first: DRF takes the challenge of the first class, so a call
    # without credentials gets 401 with `WWW-Authenticate: Token` (the session
    # has no challenge and would turn it into a 403). Session login still works.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "enersolar.authentication.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "enersolar.http.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "public_tracking": env.str("RATE_LIMIT_TRACKING", default="120/min"),
        "public_leads": env.str("RATE_LIMIT_LEADS", default="20/min"),
        "partner": env.str("RATE_LIMIT_PARTNER", default="600/min"),
        "admin_login": env.str("RATE_LIMIT_ADMIN_LOGIN", default="60/hour"),
        # Failed token authentications (staff and partner keys) per address.
        "token_failures": env.str("RATE_LIMIT_TOKEN_FAILURES", default="20/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EnerSolar CRM API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `status`: each vocabulary gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "LeadStatusEnum": "leads.models.Lead.Status",
        "FormStatusEnum": "tracking.models.Form.Status",
    },
}

# --- Celery -----------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Embedded default: kombu's file-system transport, no server needed.
    _broker_dir = VAR_DIR / "broker"
    _broker_dir.mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        # Otherwise kombu writes its exchange table to ./control.
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
# At-least-once delivery: a task is acknowledged after it ran, comes back if
# its worker dies, and each worker takes one task at a time. Redis re-delivers
# unacknowledged tasks after the visibility timeout: keep it far above the
# longest task (a delivery is bounded by the HTTP timeouts below).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# Celery's Django fix-up closes the database connection after this many tasks
# (by default after every one); enersolar/celery.py applies CONN_MAX_AGE
# and the health checks around each task instead.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 3600,
        # Publishing from a web request gives up on a dead broker within a
        # second: the lead is stored, and the queue sweep delivers it later.
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    }
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The periodic jobs (enersolar/beat.py), each timed by its BEAT_<JOB> variable.
CELERY_BEAT_SCHEDULE = beat_schedule(
    {name: env.str(setting_name(name), default="") for name, _task, _default in BEAT_JOBS}
)

# --- Delivery to buyer CRMs (SPEC §5) -----------------------------------------------
CRM_CONNECT_TIMEOUT = env.float("CRM_CONNECT_TIMEOUT", default=3.0)
CRM_READ_TIMEOUT = env.float("CRM_READ_TIMEOUT", default=15.0)
# Waits before retries 1..5 after the first attempt, in seconds, plus jitter.
DELIVERY_RETRY_DELAYS = env.list(
    "DELIVERY_RETRY_DELAYS", cast=int, default=[60, 300, 900, 3600, 7200]
)
DELIVERY_RETRY_JITTER = env.float("DELIVERY_RETRY_JITTER", default=0.1)
# A claimed queue item not finished after this long is handed out again. At
# least twice a task's slowest batch, 25 × (3 s + 15 s) with the timeouts
# above, or the lease may expire mid-batch (system check routing.W001).
DELIVERY_LEASE_SECONDS = env.int("DELIVERY_LEASE_SECONDS", default=900)
# Leads still `pending` without a delivery after this long are re-dispatched.
DELIVERY_STUCK_SECONDS = env.int("DELIVERY_STUCK_SECONDS", default=120)
# A lead not delivered within this many hours of its arrival is `expired`:
# never sent afterwards (a buyer pays for a fresh contact, not a days-old one).
LEAD_FRESHNESS_HOURS = env.int("LEAD_FRESHNESS_HOURS", default=72)
# Bounded drain: at most this many queued leads per CRM per queue run (every 30 s).
DELIVERY_DRAIN_PER_RUN = env.int("DELIVERY_DRAIN_PER_RUN", default=30000)
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=3)
# An open circuit lets one probe through after this long: no longer than the
# first retry delay, so a buyer that comes back gets its leads within minutes.
CIRCUIT_COOLDOWN_SECONDS = env.int("CIRCUIT_COOLDOWN_SECONDS", default=60)
# The built-in pretend buyer (/sandbox/crm/<slug>/…): on by default, off in production.
SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", default=not IS_PRODUCTION)

# --- Logging ----------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "kv": {"format": "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"},
    },
    # A visitor's value with a newline in it must not write a line of its own.
    "filters": {"escape_controls": {"()": "enersolar.log_escape.EscapeControlCharacters"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "kv",
            "filters": ["escape_controls"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Its start-up banner on every command and process; lockouts stay visible.
        "axes.apps": {"level": "WARNING"},
    },
}

# --- Billing (SPEC §6) --------------------------------------------------------------
# A buyer may return a delivered lead within this many days.
RETURN_WINDOW_DAYS = env.int("RETURN_WINDOW_DAYS", default=7)

# --- CSV import / export in the admin (django-import-export) ------------------------
# Exporting a list needs its view permission; importing leads needs "add".
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_FORMATS = EXPORT_FORMATS = [base_formats.CSV]

# --- Monitoring (README, "Monitoring") ---------------------------------------------
# /healthz (load balancers) and /metrics (Prometheus) are answered first of all
# middleware: before host validation and the HTTPS redirect, which a probe by
# IP address in plain HTTP would fail.
PROBE_VIEWS = {"/healthz": "enersolar.health.healthz", "/metrics": "backoffice.metrics.metrics"}
MIDDLEWARE = ["enersolar.health.ProbeMiddleware", *MIDDLEWARE]
# /healthz's broker check gives up after this long: a hung broker still gets a quick 503.
HEALTHZ_TIMEOUT_SECONDS = env.float("HEALTHZ_TIMEOUT_SECONDS", default=0.05)
# /metrics answers 404 unless one of these is set; with both, both must match.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# Each Celery worker writes its heartbeat this often; stale after three missed.
WORKER_HEARTBEAT_SECONDS = env.float("WORKER_HEARTBEAT_SECONDS", default=30)
# Error reporting, off unless a DSN is given.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from enersolar.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default=DJANGO_ENV),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
