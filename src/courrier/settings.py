"""Courrier's settings, read from the environment with safe defaults.

COURRIER_DATA_DIR        data directory (SQLite database, uploads, keys); default ./var
DATABASE_URL             e.g. postgres://user@host:5432/courrier; default SQLite in the data dir
COURRIER_SECRET_KEY      Django's signing key; generated into the data dir when unset
                         (required in production)
COURRIER_ENCRYPTION_KEYS comma-separated Fernet keys for secrets at rest, newest first;
                         generated into the data dir when unset (not in production)
COURRIER_PRODUCTION      "1": HTTPS-only cookies, HSTS, keys required from the environment
COURRIER_DEBUG           "1": Django's debug pages (never in production)
COURRIER_ALLOWED_HOSTS   comma-separated host names; default localhost names
COURRIER_PUBLIC_URL      the public HTTPS base URL (for links in mails, webhooks, OAuth callbacks)
COURRIER_GOOGLE_CLIENT_ID / _SECRET, COURRIER_MICROSOFT_CLIENT_ID / _SECRET / _TENANT
                         the firm's OAuth2 applications for Gmail and Microsoft 365
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from courrier.keys import data_dir_secret

BASE_DIR = Path(__file__).resolve().parent


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("COURRIER_DATA_DIR", "var")).resolve()
PRODUCTION = _env_flag("COURRIER_PRODUCTION")
DEBUG = _env_flag("COURRIER_DEBUG") and not PRODUCTION

SECRET_KEY = os.environ.get("COURRIER_SECRET_KEY") or (
    "" if PRODUCTION else data_dir_secret(DATA_DIR, "secret_key", kind="django")
)
# Keys for secrets at rest (passwords, API keys, tokens). Never derived from SECRET_KEY.
ENCRYPTION_KEYS = [
    key.strip()
    for key in (
        os.environ.get("COURRIER_ENCRYPTION_KEYS")
        or ("" if PRODUCTION else data_dir_secret(DATA_DIR, "encryption_keys", kind="fernet"))
    ).split(",")
    if key.strip()
]

if PRODUCTION and not (SECRET_KEY and ENCRYPTION_KEYS):
    raise ImproperlyConfigured(
        "COURRIER_PRODUCTION=1 needs COURRIER_SECRET_KEY and COURRIER_ENCRYPTION_KEYS in the "
        "environment (generate a key with: courrier generate_keys)."
    )

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("COURRIER_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]
PUBLIC_URL = os.environ.get("COURRIER_PUBLIC_URL", "").rstrip("/")
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL] if PUBLIC_URL.startswith("https://") else []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_prose_editor",
    "django_tasks",
    "django_tasks_db",
    "courrier.firm",
    "courrier.clients",
    "courrier.mailing",
    "courrier.billing",
    "courrier.taxes",
    "courrier.documents",
    "courrier.demo",
    # The audit log (auditlog's LogEntry) and the data-protection services that use it.
    "auditlog",
    "courrier.privacy",
    # Login throttling (the AXES_* block below).
    "axes",
]

MIDDLEWARE = [
    "courrier.request_ids.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view says otherwise (login, demo mailbox, webhooks).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "courrier.firm.middleware.CollaboratorLanguageMiddleware",
    # The audit log's entries name the logged-in user who made them.
    "auditlog.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the page that says so.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "courrier.urls"
WSGI_APPLICATION = "courrier.wsgi.application"

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
                "courrier.firm.context_processors.firm",
                "courrier.mailing.context_processors.profile_alert",
            ],
        },
    },
]

_SQLITE_PATH = DATA_DIR / "courrier.sqlite3"
DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{_SQLITE_PATH}", conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE takes the write lock at
    # BEGIN so that two workers wait on the busy timeout instead of failing on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "firm.Collaborator"
# django-axes refuses a locked-out login before the password is even checked; the firm's
# administrators hold every permission of the invoices' role through theirs.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "courrier.firm.permissions.FirmAdminBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "clients:list"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The interface speaks French first, then Dutch and English. Mails also go out in German.
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("nl", _("Nederlands")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["courrier.formats"]
TIME_ZONE = "Europe/Brussels"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = DATA_DIR / "media"
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Sending is configured per profile in the database; this backend is only for Django's own
# mails (password reset), never for client mail.
EMAIL_BACKEND = os.environ.get(
    "COURRIER_SYSTEM_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)

COURRIER: dict[str, Any] = {
    # A delivery task claims at most this many messages of one profile.
    "DELIVERY_BATCH": int(os.environ.get("COURRIER_DELIVERY_BATCH", "50")),
    # A claim holds this long without a sign of life from its run (which renews it as it
    # sends); past it, the sweeper settles the claim (services/delivery.py, messages_recover).
    "SENDING_LEASE_SECONDS": int(os.environ.get("COURRIER_SENDING_LEASE_SECONDS", "180")),
    # At most one "forgotten password" mail per account in this many seconds.
    "PASSWORD_RESET_INTERVAL_SECONDS": int(
        os.environ.get("COURRIER_PASSWORD_RESET_INTERVAL_SECONDS", "300")
    ),
    # A task "running" on a worker of another host is taken for stopped after this long.
    "TASK_STALE_SECONDS": int(os.environ.get("COURRIER_TASK_STALE_SECONDS", "86400")),
    # Transient failures are retried this many times, with back-off, before "failed".
    "MAX_ATTEMPTS": int(os.environ.get("COURRIER_MAX_ATTEMPTS", "8")),
    "RETRY_BASE_SECONDS": float(os.environ.get("COURRIER_RETRY_BASE_SECONDS", "60")),
    "RETRY_MAX_SECONDS": float(os.environ.get("COURRIER_RETRY_MAX_SECONDS", "3600")),
    "SMTP_TIMEOUT": float(os.environ.get("COURRIER_SMTP_TIMEOUT", "30")),
    "IMAP_TIMEOUT": float(os.environ.get("COURRIER_IMAP_TIMEOUT", "30")),
    # Time-out of one request to an HTTP provider (Gmail, Graph, SendGrid, ...), in seconds.
    "HTTP_TIMEOUT": float(os.environ.get("COURRIER_HTTP_TIMEOUT", "30")),
    # The copy to the Sent folder is tried this many times before it is given up.
    "IMAP_MAX_ATTEMPTS": int(os.environ.get("COURRIER_IMAP_MAX_ATTEMPTS", "4")),
    # Largest total of attachments accepted for one message, in bytes.
    "MAX_MESSAGE_BYTES": int(os.environ.get("COURRIER_MAX_MESSAGE_BYTES", str(20 * 1024 * 1024))),
    # Largest document accepted in a client file, in bytes.
    "MAX_DOCUMENT_BYTES": int(os.environ.get("COURRIER_MAX_DOCUMENT_BYTES", str(50 * 1024 * 1024))),
    # A delivery task keeps claiming the messages of its profile for at most this long.
    "DELIVERY_RUN_SECONDS": float(os.environ.get("COURRIER_DELIVERY_RUN_SECONDS", "120")),
    # A batch of invoices is composed by this many tasks side by side (one per worker).
    # Tasks composing one large batch side by side (one per worker); the former name of the
    # variable, when it was only for invoices, is still read.
    # The Peppol validation artifacts (empty: the copy installed with the package).
    "PEPPOL_ARTIFACTS": os.environ.get("COURRIER_PEPPOL_ARTIFACTS", ""),
    "COMPOSE_TASKS": int(
        os.environ.get(
            "COURRIER_COMPOSE_TASKS", os.environ.get("COURRIER_INVOICE_COMPOSE_TASKS", "2")
        )
    ),
}

# OAuth2 applications of the firm (see README: registering with Google and with Microsoft).
# The endpoints can be pointed elsewhere only for tests; production keeps the defaults.
OAUTH = {
    "GOOGLE_CLIENT_ID": os.environ.get("COURRIER_GOOGLE_CLIENT_ID", ""),
    "GOOGLE_CLIENT_SECRET": os.environ.get("COURRIER_GOOGLE_CLIENT_SECRET", ""),
    "GOOGLE_AUTH_URI": os.environ.get(
        "COURRIER_GOOGLE_AUTH_URI", "https://accounts.google.com/o/oauth2/auth"
    ),
    "GOOGLE_TOKEN_URI": os.environ.get(
        "COURRIER_GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com/token"
    ),
    "GOOGLE_REVOKE_URI": os.environ.get(
        "COURRIER_GOOGLE_REVOKE_URI", "https://oauth2.googleapis.com/revoke"
    ),
    "GMAIL_API_URL": os.environ.get("COURRIER_GMAIL_API_URL", "https://gmail.googleapis.com"),
    "MICROSOFT_CLIENT_ID": os.environ.get("COURRIER_MICROSOFT_CLIENT_ID", ""),
    "MICROSOFT_CLIENT_SECRET": os.environ.get("COURRIER_MICROSOFT_CLIENT_SECRET", ""),
    # "organizations" (any work account), or the firm's own tenant id.
    "MICROSOFT_TENANT": os.environ.get("COURRIER_MICROSOFT_TENANT", "organizations"),
    "MICROSOFT_AUTHORITY_HOST": os.environ.get(
        "COURRIER_MICROSOFT_AUTHORITY_HOST", "https://login.microsoftonline.com"
    ),
    "GRAPH_URL": os.environ.get("COURRIER_GRAPH_URL", "https://graph.microsoft.com"),
    # A CA bundle trusted alone for Microsoft's token endpoints (empty: the system's trust).
    "CA_BUNDLE": os.environ.get("COURRIER_OAUTH_CA_BUNDLE", ""),
}
# HTTP providers' API addresses, overridable only for tests.
PROVIDER_URLS = {
    "SENDGRID": os.environ.get("COURRIER_SENDGRID_API_URL", "https://api.sendgrid.com"),
    "SENDGRID_EU": os.environ.get("COURRIER_SENDGRID_EU_API_URL", "https://api.eu.sendgrid.com"),
    "BREVO": os.environ.get("COURRIER_BREVO_API_URL", "https://api.brevo.com/v3/"),
    "MAILGUN": os.environ.get("COURRIER_MAILGUN_API_URL", "https://api.mailgun.net/v3/"),
    "MAILGUN_EU": os.environ.get("COURRIER_MAILGUN_EU_API_URL", "https://api.eu.mailgun.net/v3/"),
    "POSTMARK": os.environ.get("COURRIER_POSTMARK_API_URL", "https://api.postmarkapp.com/"),
    "SES_ENDPOINT": os.environ.get("COURRIER_SES_ENDPOINT_URL", ""),
    # Peppol access points (a profile's own address, when set, wins: a sandbox, a test server).
    "BILLIT": os.environ.get("COURRIER_BILLIT_API_URL", "https://api.billit.be"),
    "RECOMMAND": os.environ.get("COURRIER_RECOMMAND_API_URL", "https://app.recommand.eu"),
}

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one account
# (whatever the address they come from), or LOGIN_ADDRESS_FAILURE_LIMIT from one address
# (whatever the accounts tried: higher, since an office's staff share one address), further
# logins of that account or from that address are refused for AXES_COOLOFF_TIME, the right
# password included; every refused try starts the wait again. An administrator unlocks an
# account from the collaborators' page, the Django admin or `courrier axes_reset_username`.
AXES_FAILURE_LIMIT = int(os.environ.get("COURRIER_LOGIN_FAILURE_LIMIT", "10"))
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("COURRIER_LOGIN_ADDRESS_FAILURE_LIMIT", "50"))
AXES_HANDLER = "courrier.firm.lockout.FirmLoginHandler"
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("COURRIER_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# The login form's field is "username" (the e-mail address), compared as the login compares it.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "courrier.firm.lockout.attempt_username"
# The address of the browser, not of the reverse proxy (see COURRIER_TRUSTED_PROXIES).
AXES_CLIENT_IP_CALLABLE = "courrier.firm.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "courrier.firm.lockout.lockout_response"
# A success does not wipe the address's failures: one good account must not reset the count of
# the others tried from the same address.
AXES_RESET_ON_SUCCESS = False
# Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses); the right-most
# address of that header that is not one of them is the browser's. Default: a proxy on this
# machine. Everything else is taken at its word: REMOTE_ADDR.
TRUSTED_PROXIES = [
    address.strip()
    for address in os.environ.get("COURRIER_TRUSTED_PROXIES", "127.0.0.1,::1").split(",")
    if address.strip()
]
# Webhooks with basic auth: after this many refused credentials from one address within the
# window, that address is answered 429 with Retry-After until the window has passed.
WEBHOOK_AUTH_FAILURE_LIMIT = int(os.environ.get("COURRIER_WEBHOOK_AUTH_FAILURE_LIMIT", "10"))
WEBHOOK_AUTH_WINDOW_SECONDS = int(os.environ.get("COURRIER_WEBHOOK_AUTH_WINDOW_SECONDS", "600"))

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp) on every page: scripts and styles only from the app's own
# files, nothing inline, no page framed elsewhere. A mail's HTML is shown in a sandboxed frame
# served with its own, stricter policy (courrier.mailing.frames). A form may lead to the
# OAuth consent pages (the "Connect" button posts, then is redirected there).


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


_CONSENT_PAGES = sorted(
    {_origin(OAUTH["GOOGLE_AUTH_URI"]), _origin(OAUTH["MICROSOFT_AUTHORITY_HOST"])} - {""}
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", *_CONSENT_PAGES],
    },
}
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = _env_flag("COURRIER_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line carries the id of the request it was written for ("-" outside one): the id
    # shown on the 500 page and sent back in X-Request-ID.
    "filters": {"request_id": {"()": "courrier.request_ids.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "loggers": {
        "courrier": {
            "handlers": ["console"],
            "level": os.environ.get("COURRIER_LOG_LEVEL", "INFO"),
        },
        # An unexpected error of a page: its traceback, whatever DEBUG says (Django's default
        # sends it to the console only with DEBUG on, and by mail to ADMINS, which is empty).
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        # These libraries write client secrets, codes and tokens at DEBUG level: never lower.
        "oauthlib": {"level": "WARNING"},
        "requests_oauthlib": {"level": "WARNING"},
        "msal": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
    },
}
