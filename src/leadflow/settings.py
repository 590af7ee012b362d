"""Django settings for leadflow, read from the environment.

SQLite (WAL) in LEADFLOW_DATA_DIR is the embedded default; DATABASE_URL switches to PostgreSQL.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("LEADFLOW_DATA_DIR", Path.cwd() / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    if key := os.environ.get("LEADFLOW_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("LEADFLOW_DEBUG")
ALLOWED_HOSTS = os.environ.get("LEADFLOW_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("LEADFLOW_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "leadflow.core",
    "leadflow.access",
    "leadflow.audit",
    "leadflow.leads",
    "leadflow.pipeline",
    "leadflow.hygiene",
    "leadflow.scoring",
    "leadflow.routing",
    "leadflow.nurture",
    "leadflow.capture",
    "leadflow.tracking",
    "leadflow.analytics",
    "leadflow.web",
]

MIDDLEWARE = [
    "leadflow.core.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "leadflow.web.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "leadflow.urls"
WSGI_APPLICATION = "leadflow.wsgi.application"
AUTH_USER_MODEL = "access.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "leadflow.web.context.navigation",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("LEADFLOW_SQLITE_PATH", str(DATA_DIR / "leadflow.sqlite3")),
            # Kept across requests (as on PostgreSQL): a new connection per request starts with an
            # empty page cache and re-runs the PRAGMAs, which cost more than a capture's own SQL.
            "CONN_MAX_AGE": 60,
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA cache_size=-64000; PRAGMA temp_store=MEMORY;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Background work goes through django.tasks; the database backend is the default,
# RQ on Redis is selected with LEADFLOW_TASK_BACKEND=rq.
TASK_BACKEND = os.environ.get("LEADFLOW_TASK_BACKEND", "db")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
if TASK_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = {"default": {"URL": REDIS_URL}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
elif TASK_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Request bodies above this size answer 413 before anything reads them.
LEADFLOW_MAX_BODY_BYTES = int(os.environ.get("LEADFLOW_MAX_BODY_BYTES", str(256 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = LEADFLOW_MAX_BODY_BYTES
# Import files (web upload and POST /api/v1/imports) and inbound emails may be larger than API bodies.
LEADFLOW_MAX_IMPORT_BYTES = int(os.environ.get("LEADFLOW_MAX_IMPORT_BYTES", str(200 * 1024 * 1024)))
LEADFLOW_LARGE_BODY_PATHS = ("/imports/upload", "/api/v1/imports", "/api/v1/inbound-emails")
LEADFLOW_IMAP_POLL_SECONDS = int(os.environ.get("LEADFLOW_IMAP_POLL_SECONDS", "60"))
# How often the worker finishes submissions a dead process left unprocessed (after a minute).
LEADFLOW_RECOVER_SECONDS = int(os.environ.get("LEADFLOW_RECOVER_SECONDS", "60"))
# Called by `leadflow worker` before it takes tasks: the task chains every running system needs.
LEADFLOW_WORKER_STARTUP = ["leadflow.capture.tasks.recovery_start"]
# Region used to read phone numbers written without a country prefix.
LEADFLOW_DEFAULT_REGION = os.environ.get("LEADFLOW_DEFAULT_REGION", "US")
# Optional DNS deliverability check of email domains (MX, else A/AAAA), in the background, cached per
# domain. Off by default; nameservers "host[:port],…" instead of the system resolver.
LEADFLOW_EMAIL_DNS_CHECK = _env_bool("LEADFLOW_EMAIL_DNS_CHECK")
LEADFLOW_EMAIL_DNS_NAMESERVERS = os.environ.get("LEADFLOW_EMAIL_DNS_NAMESERVERS", "")
LEADFLOW_EMAIL_DNS_TIMEOUT = float(os.environ.get("LEADFLOW_EMAIL_DNS_TIMEOUT", "5"))
LEADFLOW_EMAIL_DNS_MAX_AGE_DAYS = float(os.environ.get("LEADFLOW_EMAIL_DNS_MAX_AGE_DAYS", "30"))
# Duplicate detection: a JSON matching configuration (fields, blocking, weights, thresholds), or built-in.
LEADFLOW_MATCHING_CONFIG = os.environ.get("LEADFLOW_MATCHING_CONFIG", "")
# Hours a new owner has for the first contact before the follow-up is due.
LEADFLOW_FIRST_CONTACT_HOURS = float(os.environ.get("LEADFLOW_FIRST_CONTACT_HOURS", "1"))
# Leads from this score up are "hot" in the inbox and the lead list.
LEADFLOW_HOT_SCORE = int(os.environ.get("LEADFLOW_HOT_SCORE", "50"))
# Reverse proxies in front of leadflow that append to X-Forwarded-For (for the web forms' per-IP limit).
LEADFLOW_TRUSTED_PROXIES = int(os.environ.get("LEADFLOW_TRUSTED_PROXIES", "0"))
# Meta Lead Ads: the Graph API a source fetches leads from (unless it sets its own), with retries.
LEADFLOW_META_GRAPH_URL = os.environ.get("LEADFLOW_META_GRAPH_URL", "https://graph.facebook.com/v21.0")
LEADFLOW_META_RETRIES = int(os.environ.get("LEADFLOW_META_RETRIES", "3"))
LEADFLOW_META_BACKOFF_SECONDS = float(os.environ.get("LEADFLOW_META_BACKOFF_SECONDS", "1"))
LEADFLOW_META_TIMEOUT_SECONDS = float(os.environ.get("LEADFLOW_META_TIMEOUT_SECONDS", "10"))
# Still failing after those retries: the fetch task runs again later (delay doubling), this many times.
LEADFLOW_META_SYNC_ATTEMPTS = int(os.environ.get("LEADFLOW_META_SYNC_ATTEMPTS", "5"))
LEADFLOW_META_RETRY_DELAY_SECONDS = float(os.environ.get("LEADFLOW_META_RETRY_DELAY_SECONDS", "60"))

# Notifications: links in emails and webhooks point here; webhook retries back off exponentially.
LEADFLOW_BASE_URL = os.environ.get("LEADFLOW_BASE_URL", "http://127.0.0.1:8000")
LEADFLOW_NOTIFY_EMAIL = _env_bool("LEADFLOW_NOTIFY_EMAIL", default=True)
LEADFLOW_WEBHOOK_TIMEOUT = float(os.environ.get("LEADFLOW_WEBHOOK_TIMEOUT", "5"))
LEADFLOW_WEBHOOK_ATTEMPTS = int(os.environ.get("LEADFLOW_WEBHOOK_ATTEMPTS", "5"))
LEADFLOW_WEBHOOK_RETRY_SECONDS = float(os.environ.get("LEADFLOW_WEBHOOK_RETRY_SECONDS", "10"))

# Outgoing mail (password resets, notifications): SMTP when EMAIL_HOST is set, else files in the data dir.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("LEADFLOW_FROM_EMAIL", "leadflow <leadflow@localhost>")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")

# Nurture: public base URL for tracking and unsubscribe links, sending limits and the SMS provider.
LEADFLOW_BASE_URL = os.environ.get("LEADFLOW_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
LEADFLOW_NURTURE_QUIET_HOURS = os.environ.get("LEADFLOW_NURTURE_QUIET_HOURS", "21-8")  # lead's local hours
LEADFLOW_NURTURE_MAX_PER_DAY = int(os.environ.get("LEADFLOW_NURTURE_MAX_PER_DAY", "3"))  # all campaigns
LEADFLOW_NURTURE_BATCH = int(os.environ.get("LEADFLOW_NURTURE_BATCH", "200"))
LEADFLOW_NURTURE_SMTP_CONNECTIONS = int(os.environ.get("LEADFLOW_NURTURE_SMTP_CONNECTIONS", "1"))
LEADFLOW_NURTURE_LEASE_SECONDS = float(os.environ.get("LEADFLOW_NURTURE_LEASE_SECONDS", "300"))
LEADFLOW_NURTURE_WATCHDOG_SECONDS = float(os.environ.get("LEADFLOW_NURTURE_WATCHDOG_SECONDS", "60"))
LEADFLOW_NURTURE_DOUBLE_OPT_IN = _env_bool("LEADFLOW_NURTURE_DOUBLE_OPT_IN")
LEADFLOW_SMS_PROVIDER = os.environ.get("LEADFLOW_SMS_PROVIDER", "file")  # file | twilio
LEADFLOW_SMS_FILE = os.environ.get("LEADFLOW_SMS_FILE", str(DATA_DIR / "sms.jsonl"))
LEADFLOW_SMS_BASE_URL = os.environ.get("LEADFLOW_SMS_BASE_URL", "https://api.twilio.com")
LEADFLOW_SMS_ACCOUNT_SID = os.environ.get("LEADFLOW_SMS_ACCOUNT_SID", "")
LEADFLOW_SMS_AUTH_TOKEN = os.environ.get("LEADFLOW_SMS_AUTH_TOKEN", "")
LEADFLOW_SMS_FROM = os.environ.get("LEADFLOW_SMS_FROM", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LEADFLOW_LOG_LEVEL", "WARNING")},
}
