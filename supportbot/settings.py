"""Supportbot's settings: every value comes from the environment, through the typed readers in env.py.

With nothing set, Supportbot runs on one machine: an embedded Postgres with pgvector under the data directory,
the in-memory channel layer, Celery tasks in-process, and the local embedding model. `.env.example` and the
README document every variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from supportbot.env import env_bool, env_choice, env_float, env_int, env_list, env_str

# guardrails-ai and what it imports must never reach the network (see shared/GUARDRAILS.md): no telemetry,
# no hub inference, no cost-map or model downloads. Set before anything imports them.
for _name, _value in {
    "OTEL_SDK_DISABLED": "true",
    "GUARDRAILS_RUN_SYNC": "true",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
}.items():
    os.environ.setdefault(_name, _value)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("SUPPORTBOT_DATA_DIR", str(BASE_DIR / ".data"))).resolve()


def _secret_key() -> str:
    """An explicit key wins; a laptop install gets one generated once and kept in the data directory."""
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "kb",
    "feedback",
    "supportbot.chat",
    "supportbot.console",
    "supportbot.evaluation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "supportbot.urls"
ASGI_APPLICATION = "supportbot.asgi.application"
WSGI_APPLICATION = None

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

# --- Database: any Postgres >= 14 with pgvector, or the embedded one -------------------------------------
KB_HNSW_EF_SEARCH = env_int("KB_HNSW_EF_SEARCH", 100, minimum=1)
# Set per connection so every query (and the single-round-trip hybrid search) uses it without a SET first.
_PG_OPTIONS = f"-c hnsw.ef_search={KB_HNSW_EF_SEARCH} -c hnsw.iterative_scan=relaxed_order"
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    from supportbot.embedded_postgres import ensure_running

    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": ensure_running(DATA_DIR),
            # Reusing connections matters: a new one per step cost the chat about half its own time.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    }
DATABASES["default"].setdefault("OPTIONS", {})["options"] = _PG_OPTIONS
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels and Celery: Redis when given, in-process otherwise ------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3300, minimum=1)
CELERY_TIMEZONE = "UTC"

# --- Knowledge base ------------------------------------------------------------------------------------------
KB_EMBEDDING_BACKEND = env_choice("KB_EMBEDDING_BACKEND", "local", ("local", "openai"))
# "all-MiniLM-L6-v2" (English, the default) and "multilingual-e5-small" (about 100 languages, cross-lingual; see
# docs/multilingual.md) ship as packages, both 384-d; a directory holding model.onnx and tokenizer.json is used as is.
KB_EMBEDDING_MODEL = env_str(
    "KB_EMBEDDING_MODEL", "all-MiniLM-L6-v2" if KB_EMBEDDING_BACKEND == "local" else "text-embedding-3-small"
)
KB_EMBEDDING_DIMENSIONS = env_int(
    "KB_EMBEDDING_DIMENSIONS", 384 if KB_EMBEDDING_BACKEND == "local" else 1536, minimum=1
)
KB_EMBEDDING_BATCH_SIZE = env_int("KB_EMBEDDING_BATCH_SIZE", 8, minimum=1)
KB_EMBEDDING_THREADS = env_int("KB_EMBEDDING_THREADS", 0, minimum=0)
KB_CHUNK_TOKENS = env_int("KB_CHUNK_TOKENS", 200, minimum=16)
KB_CHUNK_OVERLAP_TOKENS = env_int("KB_CHUNK_OVERLAP_TOKENS", 40, minimum=0)
KB_MAX_DOCUMENT_BYTES = env_int("KB_MAX_DOCUMENT_BYTES", 20 * 1024 * 1024, minimum=1)
KB_FETCH_TIMEOUT_SECONDS = env_float("KB_FETCH_TIMEOUT_SECONDS", 15.0)
# The Postgres parser for keyword search; Korean, Japanese and Chinese are also indexed as character bigrams.
KB_TEXT_SEARCH_CONFIG = env_str("KB_TEXT_SEARCH_CONFIG", "english")
KB_SEARCH_CANDIDATES = env_int("KB_SEARCH_CANDIDATES", 40, minimum=1)
KB_RRF_K = env_int("KB_RRF_K", 60, minimum=1)
KB_KEYWORD_RESCORE = env_int("KB_KEYWORD_RESCORE", 200, minimum=1)
# Lexemes in more than this share of chunks are too common to select keyword candidates (they still score).
KB_KEYWORD_SELECTIVE_SHARE = env_float("KB_KEYWORD_SELECTIVE_SHARE", 0.01)
KB_KEYWORD_SELECTIVE_TERMS = env_int("KB_KEYWORD_SELECTIVE_TERMS", 8, minimum=1)
KB_SYNC_INTERVAL_MINUTES = env_int("KB_SYNC_INTERVAL_MINUTES", 60, minimum=0)

OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL") or None
OPENAI_TIMEOUT_SECONDS = env_float("OPENAI_TIMEOUT_SECONDS", 30.0)
LLM_MODEL = env_str("LLM_MODEL", "gpt-4o-mini")
LLM_TIMEOUT_SECONDS = env_float("LLM_TIMEOUT_SECONDS", 30.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, minimum=0)
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 600, minimum=16)
LLM_TEMPERATURE = env_float("LLM_TEMPERATURE", 0.2)


def _llm_prices(name: str) -> dict[str, tuple[float, float]]:
    """`model=input:output,...` in USD per million tokens, for the console's cost chart (unlisted models cost 0)."""
    prices = {}
    for item in env_list(name):
        model, _, pair = item.partition("=")
        try:
            prompt, completion = (float(part) for part in pair.split(":"))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: expected model=input:output per million tokens, got {item!r}") from exc
        prices[model.strip()] = (prompt, completion)
    return prices


LLM_PRICES = _llm_prices("LLM_PRICES")

# --- Conversation ---------------------------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 4000, minimum=1)
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 32768, minimum=256)
CHAT_CONTEXT_CHUNKS = env_int("CHAT_CONTEXT_CHUNKS", 5, minimum=1)
CHAT_HISTORY_TURNS = env_int("CHAT_HISTORY_TURNS", 6, minimum=0)
# Below this cosine similarity of the best chunk (and with no keyword match) nothing relevant was found.
CHAT_MIN_RELEVANCE = env_float("CHAT_MIN_RELEVANCE", 0.30)
CHAT_CONFIDENCE_HIGH = env_float("CHAT_CONFIDENCE_HIGH", 0.70)
CHAT_CONFIDENCE_LOW = env_float("CHAT_CONFIDENCE_LOW", 0.45)
CHAT_CACHE_SIMILARITY = env_float("CHAT_CACHE_SIMILARITY", 0.95)
CHAT_AGENT_PRESENCE_SECONDS = env_int("CHAT_AGENT_PRESENCE_SECONDS", 90, minimum=1)
# Abusive messages before a conversation is closed.
CHAT_ABUSE_LIMIT = env_int("CHAT_ABUSE_LIMIT", 3, minimum=1)

if KB_SYNC_INTERVAL_MINUTES:
    CELERY_BEAT_SCHEDULE = {
        "kb-sync-sources": {"task": "kb.tasks.sources_sync_task", "schedule": KB_SYNC_INTERVAL_MINUTES * 60.0}
    }
# Feedback: implicit signals (escalated / rephrased / left, after this much idle time) every 10 minutes.
FEEDBACK_LEFT_AFTER_MINUTES = env_int("FEEDBACK_LEFT_AFTER_MINUTES", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "feedback-implicit-signals": {"task": "feedback.tasks.implicit_signals_task", "schedule": 600.0},
}

# --- HTTP, static files, security ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "media"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Production hardening: behind TLS, set DJANGO_SECURE=true.
SECURE = env_bool("DJANGO_SECURE", False)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE and env_bool("DJANGO_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000 if SECURE else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY") else None
SESSION_COOKIE_HTTPONLY = True

# The agent console signs staff in itself; failed sign-ins are counted in the cache (shared through Redis).
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:inbox"
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
X_FRAME_OPTIONS = "DENY"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "supportbot": {"level": LOG_LEVEL},
        "kb": {"level": LOG_LEVEL},
        "feedback": {"level": LOG_LEVEL},
    },
}
