"""Deck settings: everything comes from the environment, with embedded defaults.

With no variable set, Deck runs on SQLite (WAL) and the kombu filesystem broker under
``var/``, keeps files under ``var/media`` and generates its secrets into ``var/``.
``DECK_ENVIRONMENT=production`` turns the defaults into requirements.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from deck.environment import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_str,
    generated_secret,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DECK_VAR_DIR") or BASE_DIR / "var")

ENVIRONMENT = env_str("DECK_ENVIRONMENT", "development") or "development"
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured("DECK_ENVIRONMENT must be development or production")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DECK_DEBUG", False)
SECRET_KEY = env_str("DECK_SECRET_KEY") or generated_secret(
    VAR_DIR / "secret_key", nbytes=48, allowed=not PRODUCTION, setting="DECK_SECRET_KEY"
)
# Key-encryption keys for the vault, base64 (32 bytes each); the first one is active.
VAULT_KEYS = env_list("DECK_VAULT_KEYS") or [
    generated_secret(
        VAR_DIR / "vault_key", nbytes=32, allowed=not PRODUCTION, setting="DECK_VAULT_KEYS"
    )
]

ALLOWED_HOSTS = env_list("DECK_ALLOWED_HOSTS", [] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env_list("DECK_CSRF_TRUSTED_ORIGINS")
PUBLIC_URL = (env_str("DECK_PUBLIC_URL") or "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "deck",
    "deck.vault",
    "deck.events",
    "tasks",
    "tasks.sandbox",
    "storage",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "deck.api.middleware.ApiMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.middleware.OrganizationMiddleware",
]

ROOT_URLCONF = "deck.urls"
WSGI_APPLICATION = "deck.wsgi.application"

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
                "console.context_processors.console",
            ],
        },
    },
]

_database_url = env_str("DATABASE_URL")
if _database_url:
    DATABASES = {"default": database_from_url(_database_url)}
elif PRODUCTION:
    raise ImproperlyConfigured("DATABASE_URL must be set in production")
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": sqlite_database(VAR_DIR / "deck.sqlite3")}
    # A file, not memory, so worker processes started by the tests share the test database;
    # one per test process, so two test sessions on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_deck_{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_cache_url = env_str("DECK_CACHE_URL") or env_str("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:home"
LOGOUT_REDIRECT_URL = "console:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"

# Download links (signed tokens for local files, presigned URLs on S3) expire after this long.
DECK_STORAGE_URL_TTL_SECONDS = env_int("DECK_STORAGE_URL_TTL_SECONDS", 900, minimum=10)
_s3_bucket = env_str("DECK_S3_BUCKET") or env_str("AWS_STORAGE_BUCKET_NAME")
STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": _s3_bucket,
                "endpoint_url": env_str("DECK_S3_ENDPOINT_URL") or env_str("AWS_S3_ENDPOINT_URL"),
                "region_name": env_str("DECK_S3_REGION") or env_str("AWS_S3_REGION_NAME"),
                "access_key": env_str("DECK_S3_ACCESS_KEY_ID") or env_str("AWS_ACCESS_KEY_ID"),
                "secret_key": (
                    env_str("DECK_S3_SECRET_ACCESS_KEY") or env_str("AWS_SECRET_ACCESS_KEY")
                ),
                "default_acl": "private",
                "querystring_auth": True,
                "querystring_expire": DECK_STORAGE_URL_TTL_SECONDS,
                "file_overwrite": False,
            },
        }
        if _s3_bucket
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Outside production, serve static files straight from the app directories so a fresh
# checkout needs no collectstatic step.
WHITENOISE_USE_FINDERS = not PRODUCTION

# Celery: the filesystem transport needs no server; CELERY_BROKER_URL switches to Redis or
# RabbitMQ. Job modules are named jobs.py (see deck/celery.py).
# The longest a run may take (settings.timeout_seconds is bounded by it). A run's job gets a
# hard time limit of its remaining time, so the broker's visibility timeout is set above it.
DECK_TASK_TIMEOUT_MAX_SECONDS = env_int("DECK_TASK_TIMEOUT_MAX_SECONDS", 7200, minimum=1)
_broker_url = env_str("CELERY_BROKER_URL")
if _broker_url:
    CELERY_BROKER_URL = _broker_url
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        # Must exceed the longest job's hard time limit, or a late-acked job is redelivered
        # while it still runs.
        "visibility_timeout": DECK_TASK_TIMEOUT_MAX_SECONDS + 600,
    }
    if _broker_url.startswith(("redis://", "rediss://")):
        # Without a socket timeout, a publish to a Redis that accepted the connection but
        # stopped answering (failover, a dropped NAT entry) waits forever, and so does the
        # API request publishing a run.
        CELERY_BROKER_TRANSPORT_OPTIONS |= {"socket_connect_timeout": 2, "socket_timeout": 5}
elif PRODUCTION:
    raise ImproperlyConfigured("CELERY_BROKER_URL must be set in production")
else:
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "prune-idempotency-keys": {
        "task": "deck.jobs.prune_idempotency_keys",
        "schedule": timedelta(hours=1),
    },
}

# API behaviour.
DECK_RATE_LIMIT_REQUESTS = env_int("DECK_RATE_LIMIT_REQUESTS", 200, minimum=1)
DECK_RATE_LIMIT_WINDOW_SECONDS = env_int("DECK_RATE_LIMIT_WINDOW_SECONDS", 10, minimum=1)
DECK_IDEMPOTENCY_TTL = timedelta(hours=24)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "deck.redaction.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("DECK_LOG_LEVEL", "INFO")},
    # One line per job received and finished (the sweeper runs every few seconds) is noise;
    # runs announce themselves through events instead.
    "loggers": {
        name: {"level": env_str("DECK_CELERY_JOB_LOG_LEVEL", "WARNING")}
        for name in ("celery.app.trace", "celery.worker.strategy")
    },
}
# Error reports never carry request bodies (they may hold credentials or tokenized input).
DEFAULT_EXCEPTION_REPORTER_FILTER = "deck.redaction.RedactingExceptionReporterFilter"

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DECK_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DECK_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DECK_HSTS_PRELOAD", False)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("DECK_BEHIND_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Runs.
# Dotted path of a planner factory overriding every agent's own (tests script the agent
# with it); empty means each agent's planner (tasks.agent.runtime.PLANNERS).
DECK_AGENT_PLANNER = env_str("DECK_AGENT_PLANNER", "") or ""
# The real agent: Chromium driven by Playwright (tasks.agent.browser / harness).
DECK_CHROMIUM_PATH = env_str("DECK_CHROMIUM_PATH", "/usr/bin/chromium") or "/usr/bin/chromium"
DECK_BROWSER_MAX_CONTEXTS = env_int("DECK_BROWSER_MAX_CONTEXTS", 8, minimum=1)
DECK_AGENT_MAX_STEPS = env_int("DECK_AGENT_MAX_STEPS", 60, minimum=1)
DECK_AGENT_ACTION_TIMEOUT_MS = env_int("DECK_AGENT_ACTION_TIMEOUT_MS", 5000, minimum=100)
DECK_AGENT_NAVIGATION_TIMEOUT_MS = env_int("DECK_AGENT_NAVIGATION_TIMEOUT_MS", 20000, minimum=100)
DECK_AGENT_SCREENSHOTS = env_bool("DECK_AGENT_SCREENSHOTS", True)
# The llm planner's OpenAI-compatible endpoint when an agent sets none of its own. The key
# (or DECK_LLM_API_KEY_FILE) is sent only to DECK_LLM_BASE_URL, never to an agent's own URL.
DECK_LLM_BASE_URL = (env_str("DECK_LLM_BASE_URL", "") or "").rstrip("/")
DECK_LLM_MODEL = env_str("DECK_LLM_MODEL", "") or ""
DECK_LLM_API_KEY = env_str("DECK_LLM_API_KEY", "") or ""
DECK_LLM_TIMEOUT_SECONDS = env_int("DECK_LLM_TIMEOUT_SECONDS", 60, minimum=1)
DECK_LLM_MAX_RETRIES = env_int("DECK_LLM_MAX_RETRIES", 2, minimum=0)
# Tool calls the llm planner may make in one run before it gives up.
DECK_LLM_MAX_STEPS = env_int("DECK_LLM_MAX_STEPS", 40, minimum=1)
DECK_SESSION_LIMIT = env_int("DECK_SESSION_LIMIT", 50, minimum=1)
DECK_SESSION_IDLE_SECONDS = env_int("DECK_SESSION_IDLE_SECONDS", 600, minimum=1)
# Entity fan-out (tasks.fanout): unfinished child runs released at once per credential and
# per source; the rest wait held. Runs on one credential are serialised by the worker
# anyway (tasks.execution.run_claim), so more than 1 per credential only queues ahead.
DECK_FANOUT_MAX_PER_CREDENTIAL = env_int("DECK_FANOUT_MAX_PER_CREDENTIAL", 1, minimum=1)
DECK_FANOUT_MAX_PER_SOURCE = env_int("DECK_FANOUT_MAX_PER_SOURCE", 8, minimum=1)
DECK_FANOUT_MAX_ENTITIES = env_int("DECK_FANOUT_MAX_ENTITIES", 50_000, minimum=1)
DECK_INTERACTION_TIMEOUT_SECONDS = env_int("DECK_INTERACTION_TIMEOUT_SECONDS", 600, minimum=1)
DECK_RUN_MAX_ATTEMPTS = env_int("DECK_RUN_MAX_ATTEMPTS", 3, minimum=1)
# A running run whose worker has not written a heartbeat for this long is presumed lost.
DECK_RUN_HEARTBEAT_SECONDS = env_int("DECK_RUN_HEARTBEAT_SECONDS", 5, minimum=1)
DECK_RUN_LOST_AFTER_SECONDS = env_int("DECK_RUN_LOST_AFTER_SECONDS", 45, minimum=2)
# A queued run whose message has not been picked up after this long is published again.
DECK_RUN_REDISPATCH_SECONDS = env_int("DECK_RUN_REDISPATCH_SECONDS", 30, minimum=1)
DECK_SWEEP_SECONDS = env_int("DECK_SWEEP_SECONDS", 5, minimum=1)
CELERY_TASK_ROUTES = {"tasks.jobs.execute_run": {"queue": "runs"}}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BEAT_SCHEDULE["sweep-runs"] = {
    "task": "tasks.jobs.sweep_runs",
    "schedule": timedelta(seconds=DECK_SWEEP_SECONDS),
}
# Publishing must not hang a request when the broker is down: the outbox sweeper publishes
# whatever could not be sent.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
DECK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
FORMS_URLFIELD_ASSUME_HTTPS = True

# Events and destinations.
# Events older than this are deleted (their delivery log with them) by an hourly beat job.
DECK_EVENT_RETENTION_DAYS = env_int("DECK_EVENT_RETENTION_DAYS", 30, minimum=1)
# A webhook that has not answered within this long has failed that attempt (the contract
# says 5 s); the same bound applies to connecting and publishing to RabbitMQ.
DECK_WEBHOOK_TIMEOUT_SECONDS: float = env_int("DECK_WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
# Destinations that resolve to loopback, private, link-local or metadata addresses are refused
# at connect time in production (SSRF); development allows them so local receivers work.
DECK_DESTINATIONS_ALLOW_PRIVATE = env_bool("DECK_DESTINATIONS_ALLOW_PRIVATE", not PRODUCTION)
# The delivery job runs this often; each run fans new events out and sends what is due.
DECK_EVENT_DELIVERY_INTERVAL_SECONDS = env_int("DECK_EVENT_DELIVERY_INTERVAL_SECONDS", 2, minimum=1)
# Deliveries claimed per round, and how many of them are sent at once.
DECK_EVENT_DELIVERY_BATCH = env_int("DECK_EVENT_DELIVERY_BATCH", 64, minimum=1)
DECK_EVENT_DELIVERY_CONCURRENCY = env_int("DECK_EVENT_DELIVERY_CONCURRENCY", 16, minimum=1)
CELERY_BEAT_SCHEDULE["deliver-events"] = {
    "task": "deck.events.jobs.deliver_events",
    "schedule": timedelta(seconds=DECK_EVENT_DELIVERY_INTERVAL_SECONDS),
    # Ticks queued while no worker was up are worthless once the next one is due.
    "options": {"expires": DECK_EVENT_DELIVERY_INTERVAL_SECONDS * 5},
}
CELERY_BEAT_SCHEDULE["prune-events"] = {
    "task": "deck.events.jobs.prune_events",
    "schedule": timedelta(hours=1),
}

# Storage: captured files, file inputs, scanning, retention.
# The largest file a run input may carry (seed 002: 20 MB); bigger → 413 file_too_large.
DECK_FILE_INPUT_MAX_BYTES = env_int("DECK_FILE_INPUT_MAX_BYTES", 20 * 1024 * 1024, minimum=1)
# A run request carries its files base64-encoded (4/3 the size): room for a few at the limit,
# so an oversized file gets the contract's 413 rather than Django's generic refusal.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int(
    "DECK_API_MAX_BODY_BYTES", 3 * (DECK_FILE_INPUT_MAX_BYTES * 4 // 3) + 1024 * 1024, minimum=1
)
# Files (and their rows) are deleted this long after they were stored (seed 002: 90 days).
DECK_STORAGE_RETENTION_DAYS = env_int("DECK_STORAGE_RETENTION_DAYS", 90, minimum=1)
# ClamAV daemon for malware scans (INSTREAM); unset, the built-in signature scan is used.
CLAMD_HOST = env_str("CLAMD_HOST") or ""
CLAMD_PORT = env_int("CLAMD_PORT", 3310, minimum=1)
CLAMD_SOCKET = env_str("CLAMD_SOCKET") or ""
CLAMD_TIMEOUT_SECONDS = env_int("CLAMD_TIMEOUT_SECONDS", 30, minimum=1)
# A scan job that claimed a file and went silent this long ago is presumed lost.
DECK_SCAN_LEASE_SECONDS = env_int("DECK_SCAN_LEASE_SECONDS", 120, minimum=5)
CELERY_BEAT_SCHEDULE["sweep-storage"] = {
    "task": "storage.jobs.sweep_storage",
    "schedule": timedelta(seconds=30),
    "options": {"expires": 120},
}
CELERY_BEAT_SCHEDULE["purge-storage"] = {
    "task": "storage.jobs.purge_expired_storage",
    "schedule": timedelta(hours=1),
}

# The sandbox portals date their bills, stays and payslips from today (UTC); a demo or a
# benchmark may pin the day (ISO date) so that every record stays put.
_sandbox_today = env_str("DECK_SANDBOX_TODAY")
try:
    SANDBOX_TODAY = date.fromisoformat(_sandbox_today) if _sandbox_today else None
except ValueError as _exc:
    raise ImproperlyConfigured("DECK_SANDBOX_TODAY must be an ISO date (YYYY-MM-DD)") from _exc
