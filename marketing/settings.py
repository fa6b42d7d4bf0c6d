"""Settings for the marketing platform, read from the environment.

``DEBUG`` is off unless set; ``make run``, ``make test`` and the other make targets set it for
development, where the defaults need no outside server: SQLite and a filesystem Celery broker
under ``var/`` (``make`` creates the folders; importing settings creates nothing). With
``DEBUG`` off the process refuses to start without ``SECRET_KEY``, ``ALLOWED_HOSTS``,
``PUBLIC_BASE_URL`` and ``FIELD_ENCRYPTION_KEYS``, and turns on every transport-security
setting ``check --deploy`` asks for. Every setting the code reads is declared here.
"""

import base64
import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF, UNSAFE_HASHES
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The development defaults' files: the SQLite database, the file cache, the filesystem broker.
VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-insecure-secret-key-change-me-in-production-0123456789")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
    PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
else:
    SECRET_KEY = env("SECRET_KEY", default="")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    # Instagram and n8n fetch images and call back at this address: a guess would be wrong.
    PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="").rstrip("/")
    for _name in ("SECRET_KEY", "ALLOWED_HOSTS", "PUBLIC_BASE_URL", "FIELD_ENCRYPTION_KEYS"):
        if not env(_name, default=""):
            raise ImproperlyConfigured(f"{_name} must be set when DEBUG is off; for development set DEBUG=1 (docs/environment.md).")
# Earlier secret keys, newest first: sessions and signed links made with them stay valid.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
_public = urlsplit(PUBLIC_BASE_URL)
if _public.scheme and _public.netloc:
    CSRF_TRUSTED_ORIGINS.append(f"{_public.scheme}://{_public.netloc}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "csp",
    "template_partials",
    "django_celery_beat",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "marketing",
    "integrations",
    "integrations.instagram",
    "integrations.n8n",
    "integrations.cms",
    "campaigns",
    "triggers",
    "monitoring",
    "djstripe",
    "billing",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "marketing.middleware.RequestIdMiddleware",
    "monitoring.middleware.RequestRollupMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "marketing.middleware.WorkspaceMiddleware",
    "marketing.middleware.RequestLogMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "marketing.urls"
FORM_RENDERER = "marketing.forms.FormRenderer"
WSGI_APPLICATION = "marketing.wsgi.application"
ASGI_APPLICATION = "marketing.asgi.application"

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
                "marketing.context_processors.workspace",
                "marketing.context_processors.layout",
                "marketing.context_processors.dev_mailbox",
                "integrations.instagram.context_processors.instagram_banner",
                "billing.context_processors.billing_banner",
            ],
            # |when, |duration and |zone_label on every page: one date and time format everywhere.
            "builtins": ["marketing.templatetags.timefmt"],
        },
    },
    {
        # The fragments where Django's engine cost too much (marketing/jinja.py says which).
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "OPTIONS": {"environment": "marketing.jinja.environment", "context_processors": ["marketing.jinja.urls"]},
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
DATABASES = {"default": env.db_url_config(env("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at once: WAL and immediate transactions avoid
    # "database is locked" under that light concurrency.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # PostgreSQL's JIT compiles short OLTP queries for longer than they run.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    # The cache gets its own database so that clearing it never drops queued tasks.
    CACHES = {
        "default": {
            "BACKEND": "marketing.cache.RedisCache",
            "LOCATION": env("CACHE_REDIS_URL", default=urlsplit(REDIS_URL)._replace(path="/1").geturl()),
            # A Redis that does not answer must not hold requests: the cache then fails open.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_USER_MODEL = "marketing.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"

# allauth: the email address is the login id, verified before first login.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_ADAPTER = "marketing.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "marketing.forms.SignupForm"}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Marketing] "
# Failed logins: 10 a minute per address, 5 in 5 minutes per address and account (the adapter keys
# "login_failed" by both), and a ceiling of 100 in 15 minutes per account from every address,
# which emails the owner when reached (marketing/adapters.py).
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "login_failed_account": "100/15m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
# Security notices: an email when the password, an email address or two-factor authentication
# changes, so that someone who did not make the change hears of it.
ACCOUNT_EMAIL_NOTIFICATIONS = True
# Two-factor authentication (allauth.mfa, at /accounts/2fa/): an authenticator app and recovery
# codes, no security keys. Its adapter encrypts the TOTP secret and the recovery codes' seed with
# FIELD_ENCRYPTION_KEYS. A wrong code counts as a failed login ("login_failed" above, per account).
MFA_ADAPTER = "marketing.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Marketing"
# A code from the step before or after is accepted too (RFC 6238's advice), so a phone's clock a
# few seconds off, or a code typed as it changes, still signs in.
MFA_TOTP_TOLERANCE = 1

# Email: SMTP from EMAIL_URL. Without it, development keeps every email in a mailbox read at
# /dev/mailbox/ (marketing/mailbox.py); production falls back to a local SMTP server.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://localhost:25")
vars().update(EMAIL_CONFIG)
if DEBUG and "EMAIL_URL" not in os.environ:
    EMAIL_BACKEND = "marketing.mailbox.MailboxBackend"
MAILBOX_DIR = env("MAILBOX_DIR", default=str(VAR_DIR / "mailbox"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Marketing <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date and time format everywhere, the admin included (marketing/locale_formats/en/formats.py).
FORMAT_MODULE_PATH = ["marketing.locale_formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Daily backups by beat (marketing/backups.py) into this directory, keeping the newest BACKUP_KEEP;
# off when empty. The "Backups not made" alert watches them.
BACKUP_DIR = env("BACKUP_DIR", default="")
BACKUP_KEEP = env.int("BACKUP_KEEP", default=7)
BACKUP_HOUR = env.int("BACKUP_HOUR", default=3)  # UTC
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Celery: Redis when REDIS_URL is set, else a filesystem transport that needs no server.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    _broker_dir = VAR_DIR / "celery"
    # kombu's filesystem transport, writing each message whole before a worker can take it (marketing/broker.py).
    CELERY_BROKER_URL = "marketing-filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        # kombu looks for new files once a second by default: a task waited up to a second to
        # start, and a worker's answer to a ping as long. Ten looks a second cost nothing here.
        "polling_interval": 0.1,
    }
CELERY_TASK_IGNORE_RESULT = True
# With the broker down, sending a task fails within about a second and goes to the outbox
# (marketing.outbox) instead of holding the request for the default retries.
CELERY_BROKER_CONNECTION_TIMEOUT = 1.0
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Synced into django-celery-beat's tables when beat starts; staff can then tune them in the admin.
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-runs": {"task": "campaigns.tasks.dispatch_due_runs", "schedule": 30.0},
    "recover-stale-executions": {"task": "campaigns.tasks.recover_stale_executions", "schedule": 120.0},
    "prune-idempotency-keys": {"task": "marketing.tasks.prune_idempotency_keys", "schedule": crontab(minute=20)},
    "prune-webhook-receipts": {"task": "marketing.tasks.prune_webhook_receipts", "schedule": 600.0},
    "drain-outbox": {"task": "marketing.tasks.drain_outbox", "schedule": 30.0},
    "instagram-refresh-tokens": {
        "task": "integrations.instagram.tasks.refresh_expiring_tokens",
        "schedule": crontab(hour=3, minute=15),
    },
    "instagram-media-insights": {"task": "integrations.instagram.tasks.pull_media_insights", "schedule": 6 * 3600.0},
    "instagram-account-insights": {
        "task": "integrations.instagram.tasks.pull_account_insights",
        "schedule": crontab(hour=4, minute=30),
    },
    "n8n-expire-waiting-runs": {"task": "integrations.n8n.tasks.expire_waiting_runs", "schedule": 300.0},
    "triggers-prune-events": {"task": "triggers.tasks.prune_events", "schedule": crontab(hour=2, minute=45)},
    "triggers-fire-due": {"task": "triggers.tasks.fire_due_time_triggers", "schedule": crontab(), "options": {"expires": 55}},
    "billing-send-meter-events": {"task": "billing.tasks.send_meter_events", "schedule": 60.0, "options": {"expires": 55}},
    "billing-requeue-stripe-events": {"task": "billing.tasks.requeue_stripe_events", "schedule": 60.0, "options": {"expires": 55}},
    "billing-prune-stripe-events": {"task": "billing.tasks.prune_stripe_events", "schedule": crontab(hour=3, minute=40)},
    "triggers-flush-events": {"task": "triggers.tasks.flush_buffered_events", "schedule": 2.0, "options": {"expires": 10}},
    "cms-poll-due-sources": {"task": "integrations.cms.tasks.poll_due_sources", "schedule": 60.0, "options": {"expires": 55}},
    "cms-recover-stuck-items": {"task": "integrations.cms.tasks.recover_stuck_items", "schedule": 300.0},
    "monitoring-heartbeat": {"task": "monitoring.tasks.heartbeat", "schedule": 30.0, "options": {"expires": 25}},
    "monitoring-minute": {"task": "monitoring.tasks.every_minute", "schedule": crontab(), "options": {"expires": 55}},
    "monitoring-prune": {"task": "monitoring.tasks.prune", "schedule": crontab(hour=2, minute=55)},
    "marketing-backup": {"task": "marketing.tasks.backup_scheduled", "schedule": crontab(hour=BACKUP_HOUR, minute=20)},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "marketing.api_auth.ApiTokenAuthentication",
        "marketing.api_auth.SessionWorkspaceAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["marketing.api_auth.HasWorkspace"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "marketing.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env("API_RATE_LIMIT", default="600/minute")},
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Marketing API",
    "DESCRIPTION": "Campaigns, runs and schedules. Authenticate with `Authorization: Bearer <token>`; "
    "create tokens under Settings → API tokens. Every call acts inside the token's workspace.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "marketing.api_schema.add_problem_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        "ExecutionStatusEnum": "campaigns.models.ExecutionStatus",
        "StepStatusEnum": "campaigns.models.StepStatus",
        "ScheduleKindEnum": "campaigns.models.ScheduleKind",
        "SourceKindEnum": "integrations.cms.models.SourceKind",
        "TriggerKindEnum": "triggers.models.TriggerKind",
    },
}

# Outbound HTTP layer (integrations/http.py): per-call defaults, overridable per provider.
OUTBOUND_HTTP = {
    "timeout": env.float("HTTP_TIMEOUT", default=15.0),
    "connect_timeout": env.float("HTTP_CONNECT_TIMEOUT", default=5.0),
    "retries": env.int("HTTP_RETRIES", default=3),
    "backoff": env.float("HTTP_BACKOFF", default=0.5),
    "breaker_fail_max": env.int("CIRCUIT_FAIL_MAX", default=5),
    "breaker_reset_timeout": env.int("CIRCUIT_RESET_TIMEOUT", default=60),
    "breaker_namespace": env("CIRCUIT_NAMESPACE", default="marketing"),
    "providers": {},
}

# URLs a workspace enters (its n8n) may point at private addresses only when this is on.
OUTBOUND_ALLOW_PRIVATE_HOSTS = env.bool("OUTBOUND_ALLOW_PRIVATE_HOSTS", default=DEBUG)
# Networks allowed all the same (CIDRs, comma-separated), such as a company n8n on 10.1.2.0/24.
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])

# Content sources (integrations/cms): feeds and WordPress sites a workspace polls.
CMS_MAX_FEED_BYTES = env.int("CMS_MAX_FEED_BYTES", default=5 * 1024 * 1024)
CMS_CONNECT_TIMEOUT = env.float("CMS_CONNECT_TIMEOUT", default=5.0)
CMS_READ_TIMEOUT = env.float("CMS_READ_TIMEOUT", default=10.0)
# A whole download, however slowly the server sends it, ends after this many seconds.
CMS_FETCH_DEADLINE = env.float("CMS_FETCH_DEADLINE", default=20.0)
# Uploading an image to a WordPress media library, or creating a post, may take this long.
CMS_UPLOAD_TIMEOUT = env.float("CMS_UPLOAD_TIMEOUT", default=60.0)
CMS_USER_AGENT = env("CMS_USER_AGENT", default="MarketingBot/1.0 (+feed reader)")
# Failed polls wait interval × 2^failures, up to this many minutes.
CMS_MAX_BACKOFF_MINUTES = env.int("CMS_MAX_BACKOFF_MINUTES", default=24 * 60)
# The model that drafts captions from posts when OPENAI_API_KEY is set.
OPENAI_CHAT_MODEL = env("OPENAI_CHAT_MODEL", default="gpt-4.1-mini")

# Fernet keys for secrets stored at rest (integrations/crypto.py): the first encrypts, all decrypt.
# Required in production, so rotating SECRET_KEY never touches them; in development a key is
# derived from SECRET_KEY when the list is empty.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# Events one trigger URL accepts before answering 429 ("60/minute", "1000 per hour").
TRIGGER_EVENT_RATE = env("TRIGGER_EVENT_RATE", default="60/minute")
# Received trigger events are kept this long, then pruned daily.
TRIGGER_EVENT_RETENTION_DAYS = env.int("TRIGGER_EVENT_RETENTION_DAYS", default=90)
# With Redis, events that start nothing wait in this stream and are written in batches
# (triggers/event_buffer.py); off, or without Redis, every event is written as it arrives.
TRIGGER_EVENT_BUFFER = env.bool("TRIGGER_EVENT_BUFFER", default=True)
TRIGGER_EVENT_STREAM = env("TRIGGER_EVENT_STREAM", default="triggers:events")

# Invitations stay valid this long.
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)

# Outside services: a missing key disables the feature with a clear message.
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="")
OPENAI_IMAGE_MODEL = env("OPENAI_IMAGE_MODEL", default="gpt-image-2")
META_APP_ID = env("META_APP_ID", default="")
META_APP_SECRET = env("META_APP_SECRET", default="")
INSTAGRAM_GRAPH_URL = env("INSTAGRAM_GRAPH_URL", default="https://graph.facebook.com/v23.0").rstrip("/")
N8N_BASE_URL = env("N8N_BASE_URL", default="").rstrip("/")
N8N_API_KEY = env("N8N_API_KEY", default="")
# Seconds between Instagram container status checks inside one run; then the run comes back later.
INSTAGRAM_POLL_DELAYS = (2.0, 4.0, 8.0)
# A run handed to n8n that has not called back after this long is failed with "no callback".
N8N_CALLBACK_TIMEOUT_MINUTES = env.int("N8N_CALLBACK_TIMEOUT_MINUTES", default=60)
SENTRY_DSN = env("SENTRY_DSN", default="")

# Billing (billing/). Without STRIPE_SECRET_KEY billing is off: no plan limits, and the billing
# pages say so. dj-stripe reads STRIPE_SECRET_KEY and STRIPE_LIVE_MODE itself.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
# Where the SDK sends its calls; tests and staging point it at a local fake of Stripe's API.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
# The version dj-stripe 2.11 is written against, pinned so that Stripe renders objects and
# webhook payloads the way its models expect whatever the account's default is.
STRIPE_API_VERSION = "2026-05-27.dahlia"
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
# Retries of one Stripe call by the SDK (connection errors, 409, 429, 5xx), same idempotency key.
STRIPE_NETWORK_RETRIES = env.int("STRIPE_NETWORK_RETRIES", default=2)
BILLING_TRIAL_DAYS = env.int("BILLING_TRIAL_DAYS", default=14)
# After a subscription ends or goes unpaid, its limits hold this long before the free allowance applies.
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)

# Security. Behind a proxy that terminates TLS and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The only style attributes the Content-Security-Policy lets through, by the hash of their exact value:
# dj-stripe's admin action pages (sync, cancel, webhook endpoint delete) hide their loading spinner
# with the first and centre it with the second.
STYLE_ATTRIBUTES_ALLOWED = [
    "display: none;",
    "min-height: 100vh; display: flex; align-items: center; justify-content: center;",
]


def _csp_hash(value: str) -> str:
    """The CSP source allowing exactly ``value``: its SHA-256, base64-encoded."""
    return f"'sha256-{base64.b64encode(hashlib.sha256(value.encode()).digest()).decode()}'"


# Content-Security-Policy (django-csp). Scripts only from this origin: no inline script or event
# handler attribute anywhere (confirmations are data-confirm, handled by static/js/app.js).
# <style> elements only from files, or with the request's nonce (Swagger UI's one block). No style
# attribute but those above: templates use classes, and charts colour their lines and legend with SVG
# fill and stroke attributes, which are not style. Styles set from script (el.style) stay allowed.
# Images may come from https (Instagram's CDN), data: (Swagger UI's icons) and blob: (upload previews).
# Forms post to this origin only, and their answers may redirect only to Stripe's hosted Checkout
# and portal and to Facebook's login dialog (browsers check a form's redirects against form-action).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_HASHES, *map(_csp_hash, STYLE_ATTRIBUTES_ALLOWED)],
        "img-src": [SELF, "data:", "blob:", "https:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF, "https://checkout.stripe.com", "https://billing.stripe.com", "https://www.facebook.com"],
        "frame-ancestors": [NONE],
    },
}
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # Only a local `docker compose up` over plain http turns these off.
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "marketing.logging.RequestContextFilter"},
        "routine_tasks": {"()": "marketing.logging.RoutineTaskFilter", "tasks": ["triggers.tasks.flush_buffered_events"]},
    },
    "formatters": {"json": {"()": "marketing.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["routine_tasks", "request_context"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Requests are logged once by RequestLogMiddleware with the request id.
        "django.server": {"handlers": [], "level": "ERROR", "propagate": False},
        "django.request": {"level": "ERROR"},
        # urllib3 logs whole URLs at DEBUG, query-string tokens included.
        "urllib3": {"level": "WARNING"},
        # The Stripe SDK logs every request and answer at INFO; integrations.http logs each call once.
        "stripe": {"level": "WARNING"},
        # The filesystem broker has no host; kombu warns about it on every connection.
        "kombu.connection": {"level": "ERROR"},
    },
}

# Monitoring (monitoring/): error tracking, rollups for the dashboard, health, metrics, alerts.
MONITORING_ENABLED = env.bool("MONITORING_ENABLED", default=True)
# Occurrences of one error group kept as rows per minute; the rest are only counted.
MONITORING_SAMPLES_PER_MINUTE = env.int("MONITORING_SAMPLES_PER_MINUTE", default=5)
# How often each process writes its counts; a thread does it, so requests never wait for it.
MONITORING_FLUSH_SECONDS = env.float("MONITORING_FLUSH_SECONDS", default=10.0)
MONITORING_BACKGROUND_FLUSH = env.bool("MONITORING_BACKGROUND_FLUSH", default=True)
MONITORING_OCCURRENCE_RETENTION_DAYS = env.int("MONITORING_OCCURRENCE_RETENTION_DAYS", default=30)
MONITORING_MINUTE_ROLLUP_RETENTION_DAYS = env.int("MONITORING_MINUTE_ROLLUP_RETENTION_DAYS", default=2)
MONITORING_HOUR_ROLLUP_RETENTION_DAYS = env.int("MONITORING_HOUR_ROLLUP_RETENTION_DAYS", default=35)
MONITORING_HEALTH_RETENTION_DAYS = env.int("MONITORING_HEALTH_RETENTION_DAYS", default=7)
MONITORING_ALERT_RETENTION_DAYS = env.int("MONITORING_ALERT_RETENTION_DAYS", default=180)
# Below this free share of the media disk, the disk check fails.
MONITORING_DISK_MIN_FREE_PERCENT = env.float("MONITORING_DISK_MIN_FREE_PERCENT", default=5.0)
# The alert evaluator counts as stalled (and /readyz says so) when older than this.
MONITORING_EVALUATOR_MAX_AGE_SECONDS = env.int("MONITORING_EVALUATOR_MAX_AGE_SECONDS", default=180)
MONITORING_BEAT_MAX_AGE_SECONDS = env.int("MONITORING_BEAT_MAX_AGE_SECONDS", default=180)
# When beat's evaluation is overdue, /readyz runs one in a thread of the web process, so "beat silent"
# and "workers silent" still reach someone when beat or the workers are what is down.
MONITORING_FALLBACK_EVALUATION = env.bool("MONITORING_FALLBACK_EVALUATION", default=True)
# Alerts: email to active staff plus these addresses; a signed webhook when a URL is set.
MONITORING_ALERT_EMAILS = env.list("MONITORING_ALERT_EMAILS", default=[])
MONITORING_ALERT_WEBHOOK_URL = env("MONITORING_ALERT_WEBHOOK_URL", default="")
MONITORING_ALERT_WEBHOOK_SECRET = env("MONITORING_ALERT_WEBHOOK_SECRET", default="")
# "json" (our payload) or "slack" (a Slack incoming-webhook payload, also read by Mattermost).
MONITORING_ALERT_WEBHOOK_FORMAT = env("MONITORING_ALERT_WEBHOOK_FORMAT", default="json")
# /metrics: a bearer token, or addresses allowed without one (loopback by default only with DEBUG).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"] if DEBUG else [])
# With several processes (gunicorn workers, Celery), each writes its metrics here and /metrics sums them.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    # Whoever starts the processes creates and empties it (`make run`, the Docker image and
    # compose): every process writes its first metric file into it while starting.
    if not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
        raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR} is not a directory; create it before starting.")
    # prometheus_client picks its storage from the environment when first imported (after this).
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", PROMETHEUS_MULTIPROC_DIR)

SENTRY_RELEASE = env("SENTRY_RELEASE", default="")
SENTRY_ENVIRONMENT = env("SENTRY_ENVIRONMENT", default="development" if DEBUG else "production")
if SENTRY_DSN:
    from monitoring.sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        release=SENTRY_RELEASE,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
