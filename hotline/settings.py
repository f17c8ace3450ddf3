"""The hotline's only settings module. Every value comes from the environment through the helpers in
``hotline.envconf``; docs/configuration.md lists each variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url

from hotline.envconf import (
    ConfigurationError,
    env_bool,
    env_bot_username,
    env_channels,
    env_float,
    env_int,
    env_list,
    env_minutes_by,
    env_secret,
    env_str,
    private_directory,
)
from hotline.keyring import server_keys

BASE_DIR = Path(__file__).resolve().parent

# --- data directory and keys -------------------------------------------------------------------
# Created 0700 if missing; an existing one others may enter is tightened to 0700 (or refused, if it
# cannot be: docs/configuration.md).
HOTLINE_DATA_DIR = private_directory("HOTLINE_DATA_DIR", Path(env_str("HOTLINE_DATA_DIR", "./var")).resolve())
HOTLINE_KEYS_DIR = private_directory(
    "HOTLINE_KEYS_DIR", Path(env_str("HOTLINE_KEYS_DIR", str(HOTLINE_DATA_DIR / "keys"))).resolve()
)
HOTLINE_BACKUP_DIR = Path(env_str("HOTLINE_BACKUP_DIR", str(HOTLINE_DATA_DIR / "backups"))).resolve()

SECRET_KEY = env_secret("HOTLINE_SECRET_KEY") or server_keys.django_secret_key(HOTLINE_KEYS_DIR)
DEBUG = env_bool("HOTLINE_DEBUG", False)
ALLOWED_HOSTS = env_list("HOTLINE_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

# --- database ------------------------------------------------------------------------------------
_SQLITE_PATH = HOTLINE_DATA_DIR / "hotline.sqlite3"
DATABASE_URL = env_secret("DATABASE_URL") or f"sqlite:///{_SQLITE_PATH}"
# The page cache, in MiB, of the SQLite connection that writes (dbwrite sets it when that connection opens).
HOTLINE_SQLITE_CACHE_MB = env_int("HOTLINE_SQLITE_CACHE_MB", 16, minimum=1)
_db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work beside one writer; IMMEDIATE transactions take the write lock up front,
    # so concurrent writers queue on the busy timeout instead of failing with "database is locked".
    # secure_delete overwrites deleted content (crypto-shredded cases) instead of leaving it in free pages.
    # Connections are kept (opening one and running the PRAGMAs costs ~0.7 ms a request).
    # The connection that writes (the writer process's, or a writer thread's) keeps a larger page
    # cache (HOTLINE_SQLITE_CACHE_MB, set by dbwrite when it opens), which cuts the time each
    # statement spends inside the write turn; every other connection (a web thread's, the worker's)
    # keeps HOTLINE_SQLITE_READER_CACHE_MB, so that many threads reading do not each hold a large
    # cache. The file is read with read(), not through a memory map, unless HOTLINE_SQLITE_MMAP_MB is
    # set: mapped pages count in every process's memory, and an I/O error on a mapped file is a SIGBUS
    # that kills the process instead of an error (docs/operations.md, "Footprint").
    _db["CONN_MAX_AGE"] = 600
    _db["CONN_HEALTH_CHECKS"] = False
    _db["OPTIONS"] = {
        "timeout": env_int("HOTLINE_SQLITE_TIMEOUT", 30, minimum=1),
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON; "
            "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
            f"PRAGMA cache_size=-{env_int('HOTLINE_SQLITE_READER_CACHE_MB', 2, minimum=1) * 1024}; "
            f"PRAGMA mmap_size={env_int('HOTLINE_SQLITE_MMAP_MB', 0, minimum=0) * 1024 * 1024};"
        ),
    }
    _db["TEST"] = {"NAME": str(HOTLINE_DATA_DIR / "test.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that asks the connection's socket before it spends a
    # round trip on SELECT 1 (hotline/pgbackend/base.py); the vendor is still "postgresql".
    _db["ENGINE"] = "hotline.pgbackend"
    _db.setdefault("OPTIONS", {})
    # Parameters sent apart from the statement text (server-side binding) instead of quoted into it
    # by psycopg in Python, and the statements a connection runs repeatedly prepared on the server
    # after their second run (psycopg's prepare_threshold; Django turns preparing off by default).
    # Together they roughly halve the CPU a statement of the hot path costs the client and the server.
    # A transaction-mode pooler that cannot carry prepared statements (PgBouncer before 1.21, or with
    # max_prepared_statements = 0) needs HOTLINE_PG_PREPARED_STATEMENTS=false.
    if env_bool("HOTLINE_PG_SERVER_BINDING", True):
        _db["OPTIONS"]["server_side_binding"] = True
        if env_bool("HOTLINE_PG_PREPARED_STATEMENTS", True):
            _db["OPTIONS"]["prepare_threshold"] = env_int("HOTLINE_PG_PREPARE_THRESHOLD", 2, minimum=0)
else:
    raise ConfigurationError("DATABASE_URL must be a sqlite:// or postgres:// URL")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- application ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "hotline.accounts",
    "hotline.keyring",
    "hotline.audit",
    "hotline.cases",
    "hotline.worker",
    "hotline.outbox",
    "hotline.flows",
    "hotline.channels.telegram",
    "hotline.console",
    "hotline.kb",
    "hotline.channels.web",
    "hotline.channels.voice",
    "hotline.news",
    "hotline.portal",
    "hotline.pagetexts",
    "hotline.figures",
    "hotline.notify",
]

MIDDLEWARE = [
    # The security headers of every response, errors and static files included, in one place.
    "hotline.headers.SecurityHeadersMiddleware",
    "hotline.portal.middleware.PortalMiddleware",  # flood limits next: a rejection costs no more
    "django.middleware.security.SecurityMiddleware",
    "hotline.console.middleware.StaticFilesMiddleware",
    # Sessions, language negotiation, the user and the second factor run for the console only: the
    # portal, the Telegram webhook and the liveness checks pass through them (hotline/middleware.py).
    "hotline.middleware.SessionMiddleware",
    "hotline.middleware.LocaleMiddleware",
    # Bodies too large, control characters, too many fields: refused with the reason, before anything
    # reads the body or the parameters (hotline/inputs.py).
    "hotline.inputs.RequestInputMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "hotline.middleware.AuthenticationMiddleware",
    "hotline.middleware.OTPMiddleware",
    "hotline.accounts.middleware.IdleTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The post editor's image (at most 5 MB) is parsed in memory, never into a temporary file
# (hotline/inputs.py keeps every other body within Django's 2.5 MiB).
FILE_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024

ROOT_URLCONF = "hotline.urls"
WSGI_APPLICATION = "hotline.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    }
]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]

# Argon2id cost for wrapping the organisation key under each staff password (floor: 64 MiB).
HOTLINE_ARGON2_MEMLIMIT = env_int("HOTLINE_ARGON2_MEMORY_MIB", 64, minimum=64) * 1024 * 1024
HOTLINE_ARGON2_OPSLIMIT = env_int("HOTLINE_ARGON2_ITERATIONS", 3, minimum=1)

# --- first-answer targets ----------------------------------------------------------------------
# How long a case may wait for its first answer, per priority (hotline/cases/targets.py).
HOTLINE_FIRST_ANSWER_TARGETS = env_minutes_by(
    "HOTLINE_FIRST_ANSWER_TARGETS", ("urgent", "high", "normal"), {"urgent": 15, "high": 60, "normal": 240}
)

# --- notifications (hotline/notify/) -----------------------------------------------------------
# How often an open console asks for counts; at most one Telegram notification per person this often.
HOTLINE_NOTIFY_POLL_SECONDS = env_int("HOTLINE_NOTIFY_POLL_SECONDS", 30, minimum=5)
HOTLINE_NOTIFY_TELEGRAM_SECONDS = env_int("HOTLINE_NOTIFY_TELEGRAM_SECONDS", 60, minimum=10)

# --- retention and worker ------------------------------------------------------------------------
HOTLINE_RETENTION_DAYS = env_int("HOTLINE_RETENTION_DAYS", 90, minimum=1)
HOTLINE_RETENTION_INTERVAL = env_int("HOTLINE_RETENTION_INTERVAL_SECONDS", 3600, minimum=1)
HOTLINE_AUDIT_ANCHOR_INTERVAL = env_int("HOTLINE_AUDIT_ANCHOR_INTERVAL_SECONDS", 3600, minimum=1)
# Copies of the audit chain head outside the database (hotline/audit/anchors.py).
HOTLINE_AUDIT_ANCHOR_FILE = Path(
    env_str("HOTLINE_AUDIT_ANCHOR_FILE", str(HOTLINE_KEYS_DIR / "audit-anchors"))
).resolve()
HOTLINE_WORKER_POLL_SECONDS = float(env_str("HOTLINE_WORKER_POLL_SECONDS", "0.5"))

# --- outbox and flows -------------------------------------------------------------------------------
HOTLINE_OUTBOX_BATCH = env_int("HOTLINE_OUTBOX_BATCH", 50, minimum=1)
# Deliveries a worker has in flight at once (sender threads; each waits for its channel's send slot).
# A claimed row is another worker's to take after this long (its worker died with it in flight).
HOTLINE_OUTBOX_LEASE_SECONDS = env_int("HOTLINE_OUTBOX_LEASE_SECONDS", 60, minimum=5)
HOTLINE_OUTBOX_CONCURRENCY = env_int("HOTLINE_OUTBOX_CONCURRENCY", 32, minimum=1)
# The intake flow there also declares the languages the hotline speaks (docs/languages.md).
HOTLINE_FLOWS_DIR = Path(env_str("HOTLINE_FLOWS_DIR", str(BASE_DIR.parent / "flows"))).resolve()

# --- knowledge base (docs/configuration.md, "Knowledge base") ---------------------------------------
HOTLINE_KB_DIR = Path(env_str("HOTLINE_KB_DIR", str(BASE_DIR.parent / "kb" / "articles"))).resolve()
HOTLINE_KB_REFRESH_SECONDS = env_int("HOTLINE_KB_REFRESH_SECONDS", 5, minimum=0)

# --- Telegram ------------------------------------------------------------------------------------------
TELEGRAM_BOT_TOKEN = env_secret("TELEGRAM_BOT_TOKEN") or ""
TELEGRAM_WEBHOOK_SECRET = env_secret("TELEGRAM_WEBHOOK_SECRET") or ""
TELEGRAM_API_BASE = env_str("TELEGRAM_API_BASE", "")
# The bot's @username, for links that open it (a staff member linking their account); optional.
TELEGRAM_BOT_USERNAME = env_bot_username("TELEGRAM_BOT_USERNAME")
# webhook: Telegram POSTs to /telegram/webhook; polling: the worker fetches updates; off: no bot.
TELEGRAM_MODE = env_str(
    "TELEGRAM_MODE", "webhook" if TELEGRAM_WEBHOOK_SECRET else ("polling" if TELEGRAM_BOT_TOKEN else "off")
)
if TELEGRAM_MODE not in {"webhook", "polling", "off"}:
    raise ConfigurationError("TELEGRAM_MODE must be webhook, polling or off")
TELEGRAM_GLOBAL_RATE = env_int("TELEGRAM_GLOBAL_RATE", 30, minimum=1)
TELEGRAM_CHAT_RATE = env_int("TELEGRAM_CHAT_RATE", 1, minimum=1)
TELEGRAM_WIPE_AFTER_SECONDS = env_int("TELEGRAM_WIPE_AFTER_SECONDS", 300, minimum=10)
TELEGRAM_WIPE_INTERVAL_SECONDS = env_int("TELEGRAM_WIPE_INTERVAL_SECONDS", 30, minimum=1)
TELEGRAM_MAX_FILE_BYTES = env_int("TELEGRAM_MAX_FILE_MB", 20, minimum=1) * 1024 * 1024
# What one chat may send: this many updates at once, then this many a minute (more is dropped).
TELEGRAM_INBOUND_BURST = env_int("TELEGRAM_INBOUND_BURST", 20, minimum=1)
TELEGRAM_INBOUND_PER_MINUTE = env_int("TELEGRAM_INBOUND_PER_MINUTE", 20, minimum=1)
# The public channels posts go to, per language: "ru=@hotline_ru,uk=@hotline_uk" or "*=@hotline".
# The bot's phrases per language (<code>.yaml), file by file ahead of hotline/channels/telegram/content/.
_phrases_dir = env_str("HOTLINE_TELEGRAM_PHRASES_DIR", "")
HOTLINE_TELEGRAM_PHRASES_DIR = Path(_phrases_dir).resolve() if _phrases_dir else None
TELEGRAM_CHANNELS = env_channels("TELEGRAM_CHANNELS")

# --- phone line (docs/configuration.md, "Phone line"; docs/operations.md, "Connecting the phone line") ----
# The provider's auth token signs every webhook (X-Twilio-Signature) and, with the account SID, opens
# its REST API. Without a token the phone line is off and /voice/* answers 404.
VOICE_AUTH_TOKEN = env_secret("VOICE_AUTH_TOKEN") or ""
VOICE_ACCOUNT_SID = env_str("VOICE_ACCOUNT_SID", "")
# Twilio: https://api.twilio.com; SignalWire: https://<space>.signalwire.com/api/laml; Somleng: its API host.
VOICE_API_BASE = env_str("VOICE_API_BASE", "https://api.twilio.com").rstrip("/")
# The public address the provider posts to (https://hotline.example.org): signatures are checked
# against it, and the URLs we hand the provider start with it. Empty: the request's own address.
VOICE_PUBLIC_URL = env_str("VOICE_PUBLIC_URL", "").rstrip("/")
VOICE_NUMBER = env_str("VOICE_NUMBER", "")  # the hotline's number: the caller id of every callback
VOICE_RING_STRATEGY = env_str("VOICE_RING_STRATEGY", "simultaneous")
if VOICE_RING_STRATEGY not in {"simultaneous", "sequential"}:
    raise ConfigurationError("VOICE_RING_STRATEGY must be simultaneous or sequential")
VOICE_RING_TIMEOUT_SECONDS = env_int("VOICE_RING_TIMEOUT_SECONDS", 20, minimum=5)
VOICE_MAX_RECORDING_SECONDS = env_int("VOICE_MAX_RECORDING_SECONDS", 180, minimum=10)
_voice_menu = env_str("HOTLINE_VOICE_MENU", "")  # a copy of hotline/channels/voice/content/menu.yaml
HOTLINE_VOICE_MENU = Path(_voice_menu).resolve() if _voice_menu else None
VOICE_MAX_RECORDING_BYTES = env_int("VOICE_MAX_RECORDING_MB", 20, minimum=1) * 1024 * 1024

# --- web server ----------------------------------------------------------------------------------
HOTLINE_HOST = env_str("HOTLINE_HOST", "127.0.0.1")
HOTLINE_PORT = env_int("HOTLINE_PORT", 8000, minimum=1)
HOTLINE_WEB_WORKERS = env_int("HOTLINE_WEB_WORKERS", 2, minimum=1)
# Request threads per web worker; each may hold one database connection (mind PostgreSQL's max_connections).
HOTLINE_WEB_THREADS = env_int("HOTLINE_WEB_THREADS", 16, minimum=1)
# The writer process's Unix socket (``hotline writer``): set by ``hotline serve`` for its children on
# SQLite; empty means each process commits its own busy-path writes on a writer thread.
HOTLINE_WRITER_SOCKET = env_str("HOTLINE_WRITER_SOCKET", "")
# Group commit of the busy-path writes (``dbwrite.run_write``): a writer thread (or, under serve on
# SQLite, the writer process) commits whatever is waiting in one transaction. Off, each request
# commits its own (docs/architecture.md has the figures for both on PostgreSQL).
HOTLINE_GROUP_COMMIT = env_bool("HOTLINE_GROUP_COMMIT", True)
# ``hotline serve`` restarts a child that exits after a pause that doubles while it keeps exiting.
HOTLINE_RESTART_DELAY_SECONDS = env_float("HOTLINE_RESTART_DELAY_SECONDS", 1.0, minimum=0)
HOTLINE_RESTART_DELAY_MAX_SECONDS = env_float("HOTLINE_RESTART_DELAY_MAX_SECONDS", 60.0, minimum=0)
if HOTLINE_RESTART_DELAY_MAX_SECONDS < HOTLINE_RESTART_DELAY_SECONDS:
    raise ConfigurationError("HOTLINE_RESTART_DELAY_MAX_SECONDS must not be less than HOTLINE_RESTART_DELAY_SECONDS")
# The file where ``hotline serve`` says which of its children are down (set by serve for them; /healthz reads it).
_serve_status = env_str("HOTLINE_SERVE_STATUS", "")
HOTLINE_SERVE_STATUS = Path(_serve_status) if _serve_status else None

# --- internationalisation ------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# The console's own interface languages (for staff). The languages applicants are spoken to in are
# declared by the intake flow (hotline/languages.py, docs/languages.md).
LANGUAGES = [("en", "English"), ("uk", "Українська"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = HOTLINE_DATA_DIR / "static"

# --- security ------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = env_bool("HOTLINE_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
# HTTP Strict Transport Security, for a hotline served over HTTPS (by the proxy in front of it). Sent
# on every response when set (browsers ignore it over plain HTTP), by hotline/headers.py.
SECURE_HSTS_SECONDS = env_int("HOTLINE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("HOTLINE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = False
# Behind a reverse proxy that ends TLS, the request reaches the hotline over plain HTTP: the proxy's
# X-Forwarded-Proto says it came over HTTPS. Without it every console form post is refused (the
# browser's Origin, https://…, is not the http://… Django would expect; deploy/ and docs/operations.md).
if env_bool("HOTLINE_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- console (docs/configuration.md, "Console") ----------------------------------------------------
LOGIN_URL = "accounts:login"
CSRF_FAILURE_VIEW = "hotline.console.errors.csrf_failure"
# Staff sessions end when the browser closes, after HOTLINE_SESSION_MAX_HOURS at the latest, and
# after HOTLINE_CONSOLE_IDLE_MINUTES without activity (background refreshes do not count).
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = env_int("HOTLINE_SESSION_MAX_HOURS", 12, minimum=1) * 3600
HOTLINE_CONSOLE_IDLE_MINUTES = env_int("HOTLINE_CONSOLE_IDLE_MINUTES", 30, minimum=1)
# Behind a reverse proxy, sign-in throttling needs the client address the proxy saw (rightmost
# X-Forwarded-For entry). Only a keyed hash of it is ever stored.
HOTLINE_TRUST_X_FORWARDED_FOR = env_bool("HOTLINE_TRUST_X_FORWARDED_FOR", False)
# django-otp's own per-device lockout grows without bound; accounts/throttle.py throttles instead.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_TOTP_ISSUER = env_str("HOTLINE_TOTP_ISSUER", "Hotline")
WHITENOISE_USE_FINDERS = True

# --- portal (docs/configuration.md, "Portal") ----------------------------------------------------
# A started application form lasts this long (its signed cookie expires; the browser drops it on close).
HOTLINE_PORTAL_SESSION_SECONDS = env_int("HOTLINE_PORTAL_SESSION_HOURS", 24, minimum=1) * 3600
# Flood and guessing limits, per web process, per client address (kept only as a keyed hash in memory).
HOTLINE_PORTAL_CLIENT_RATE = env_int("HOTLINE_PORTAL_CLIENT_RATE", 10, minimum=1)
HOTLINE_PORTAL_CLIENT_STARTS_PER_HOUR = env_int("HOTLINE_PORTAL_CLIENT_STARTS_PER_HOUR", 30, minimum=1)
HOTLINE_PORTAL_GLOBAL_STARTS_PER_SECOND = env_int("HOTLINE_PORTAL_GLOBAL_STARTS_PER_SECOND", 50, minimum=1)
HOTLINE_PORTAL_RECEIPT_FAILURES_PER_HOUR = env_int("HOTLINE_PORTAL_RECEIPT_FAILURES_PER_HOUR", 20, minimum=1)
HOTLINE_PORTAL_GLOBAL_RECEIPT_FAILURES_PER_SECOND = env_int(
    "HOTLINE_PORTAL_GLOBAL_RECEIPT_FAILURES_PER_SECOND", 5, minimum=1
)
_portal_content = env_str("HOTLINE_PORTAL_CONTENT_DIR", "")
HOTLINE_PORTAL_CONTENT_DIR = Path(_portal_content).resolve() if _portal_content else None
HOTLINE_CONTACTS_FILE = Path(env_str("HOTLINE_CONTACTS_FILE", str(HOTLINE_DATA_DIR / "contacts.json"))).resolve()

# --- logging: no personal data, no IP addresses ----------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("HOTLINE_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's request loggers would write paths and, on errors, request details.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "ERROR"},
        "django.security.DisallowedHost": {"level": "ERROR"},
        # The twilio client logs every API request's URL, query and headers at INFO.
        "twilio": {"level": "WARNING"},
    },
}
