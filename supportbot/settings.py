"""Supportbot's settings: every value comes from the environment, through the typed readers in env.py.

With nothing set, Supportbot runs on one machine: an embedded Postgres with pgvector under the data directory,
the in-memory channel layer, Celery tasks in-process, and the local embedding model. `.env.example` and the
README document every variable.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from supportbot.embedded_postgres import embedded_database
from supportbot.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_list_checked,
    env_llm_endpoints,
    env_llm_prices,
    env_secret_key,
    env_share,
    env_str,
    network_switches_off,
)
from supportbot.logs import logging_config

network_switches_off()  # before anything imports guardrails-ai (README, "Guardrails")

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("SUPPORTBOT_DATA_DIR", str(BASE_DIR / ".data"))).resolve()

# An explicit key wins; a laptop install gets one generated once and kept in the data directory.
SECRET_KEY = env_secret_key("DJANGO_SECRET_KEY", data_dir=DATA_DIR)
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
    # First, so every request (even a redirected or refused one) has a request id and is counted.
    "supportbot.request_middleware.request_context_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions (it reads the language an agent chose) and before common (it may redirect by language).
    "django.middleware.locale.LocaleMiddleware",
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
# Connections come from a pool (psycopg_pool, Django's "pool" option) instead of living as long as a thread:
# under ASGI every HTTP request runs in a thread of its own, so persistent per-thread connections piled up until
# Postgres refused new clients (200 widgets asking for session tokens at once did it). The pool bounds a
# process's connections and makes taking one cheap; a request waits up to DATABASE_POOL_TIMEOUT_SECONDS for one.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=1)
DATABASE_POOL_TIMEOUT_SECONDS = env_float("DATABASE_POOL_TIMEOUT_SECONDS", 10.0)
# Unset: the embedded server, started (or joined) here.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL) if DATABASE_URL else embedded_database(DATA_DIR)}
# With a pool, CONN_HEALTH_CHECKS makes the pool check each connection before handing it out, so a connection the
# server dropped (a Postgres restart) is never used.
DATABASES["default"].update({"CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True})
DATABASES["default"].setdefault("OPTIONS", {}).update(
    {
        "options": _PG_OPTIONS,
        "pool": {
            "min_size": 2,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT_SECONDS,
        },
    }
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels and Celery: Redis when given, in-process otherwise ------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # channels-redis, waiting out a Redis restart instead of closing every websocket (supportbot/channel_layer.py).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "supportbot.channel_layer.ReconnectingRedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
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
# A task whose worker died (acks late) goes back to the queue once its visibility timeout has passed. Longer than
# the time limit, so a task still running is not handed to a second worker (if it were, the job lock makes the
# copy wait: supportbot/celery.py). The restore sweep runs every quarter of it (at most every minute).
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 300, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": max(1, min(60, CELERY_VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1,
}
# Redis restarts: workers reconnect for as long as it takes; running jobs carry on (they write to Postgres).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A copy of a job task delivered while another worker runs the job checks again after this many seconds.
CELERY_JOB_BUSY_RETRY_SECONDS = env_int("CELERY_JOB_BUSY_RETRY_SECONDS", 30, minimum=1)
# Unfinished jobs no worker holds are queued again (Celery beat); queued ones only after this long.
CELERY_JOB_RECOVER_AFTER_SECONDS = env_int("CELERY_JOB_RECOVER_AFTER_SECONDS", 600, minimum=1)
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
# --- fetch policy (issue #13): where ingestion may connect; kb/address_policy.py, docs/security.md ---
# Public addresses only. true also allows 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7 (an intranet help
# centre), never loopback, link-local or reserved ones; KB_FETCH_ALLOWED_NETWORKS allows exactly what it lists
# (CIDR or address, optionally with one port: 10.20.0.0/16, 192.168.1.5:8080, [fd00::1]:443).
KB_FETCH_ALLOW_PRIVATE_NETWORKS = env_bool("KB_FETCH_ALLOW_PRIVATE_NETWORKS", False)
# Each entry is parsed by the fetcher's own parser, so a bad one fails at start-up.
KB_FETCH_ALLOWED_NETWORKS = env_list_checked("KB_FETCH_ALLOWED_NETWORKS", check="kb.address_policy.allowance_parse")
KB_FETCH_MAX_REDIRECTS = env_int("KB_FETCH_MAX_REDIRECTS", 5, minimum=0)

# --- end fetch policy ---
# The Postgres parser for keyword search; Korean, Japanese and Chinese are also indexed as character bigrams.
KB_TEXT_SEARCH_CONFIG = env_str("KB_TEXT_SEARCH_CONFIG", "english")
KB_SEARCH_CANDIDATES = env_int("KB_SEARCH_CANDIDATES", 40, minimum=1)
KB_RRF_K = env_int("KB_RRF_K", 60, minimum=1)
KB_KEYWORD_RESCORE = env_int("KB_KEYWORD_RESCORE", 200, minimum=1)
# Lexemes in more than this share of chunks are too common to select keyword candidates (they still score).
KB_KEYWORD_SELECTIVE_SHARE = env_float("KB_KEYWORD_SELECTIVE_SHARE", 0.01)
KB_KEYWORD_SELECTIVE_TERMS = env_int("KB_KEYWORD_SELECTIVE_TERMS", 8, minimum=1)
KB_SYNC_INTERVAL_MINUTES = env_int("KB_SYNC_INTERVAL_MINUTES", 60, minimum=0)
# --- Planted instructions (issue #13): links in answers; supportbot/guards/links.py, docs/security.md ---
# Answers link only to the hosts of the knowledge base's own documents and Supportbot's own hosts; these domains
# (and their subdomains) are allowed too, e.g. "example.com,status.example.net".
KB_ANSWER_LINK_DOMAINS = env_list("KB_ANSWER_LINK_DOMAINS", [])
# --- end planted instructions ---
# --- Public search (issue #13): GET /api/search for a widget's pages; kb/public_search.py, docs/security.md ---
# At most this many results a request, and this many requests a minute per client address (IPv6: its /64).
KB_PUBLIC_SEARCH_MAX_RESULTS = env_int("KB_PUBLIC_SEARCH_MAX_RESULTS", 5, minimum=1)
KB_PUBLIC_SEARCH_PER_MINUTE = env_int("KB_PUBLIC_SEARCH_PER_MINUTE", 30, minimum=0)
# --- end public search ---

OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL") or None
OPENAI_TIMEOUT_SECONDS = env_float("OPENAI_TIMEOUT_SECONDS", 30.0)
LLM_MODEL = env_str("LLM_MODEL", "gpt-4o-mini")
LLM_TIMEOUT_SECONDS = env_float("LLM_TIMEOUT_SECONDS", 30.0)
# A stream with no text by then fails over to the next endpoint (the whole reply still has LLM_TIMEOUT_SECONDS).
LLM_FIRST_TOKEN_TIMEOUT_SECONDS = env_float("LLM_FIRST_TOKEN_TIMEOUT_SECONDS", 10.0)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 2, minimum=0)
LLM_MAX_TOKENS = env_int("LLM_MAX_TOKENS", 600, minimum=16)
LLM_TEMPERATURE = env_float("LLM_TEMPERATURE", 0.2)


LLM_PRICES = env_llm_prices("LLM_PRICES")
# Unset: the single OPENAI_* endpoint above is the pool.
LLM_ENDPOINTS = env_llm_endpoints("LLM_ENDPOINTS", default_model=LLM_MODEL)
# Endpoints in this region are tried first (for data residency or latency); others are the failover.
LLM_REGION = env_str("LLM_REGION")
# Circuit breaker: this many failures in a row put an endpoint into a cool-down (an HTTP 429 does at once).
LLM_BREAKER_FAILURES = env_int("LLM_BREAKER_FAILURES", 3, minimum=1)
LLM_COOLDOWN_SECONDS = env_float("LLM_COOLDOWN_SECONDS", 30.0)

# --- Conversation ---------------------------------------------------------------------------------------------
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 4000, minimum=1)
CHAT_MAX_FRAME_BYTES = env_int("CHAT_MAX_FRAME_BYTES", 32768, minimum=256)
# Worker threads for a process's conversations' database and guard work (supportbot/chat/dbthreads.py).
CHAT_THREADS = env_int("CHAT_THREADS", 16, minimum=1)
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

# --- Limits (docs/operations.md): defaults for every widget, each overridable on the widget; 0 = no limit ------
CHAT_RATE_VISITOR_MESSAGES_PER_MINUTE = env_int("CHAT_RATE_VISITOR_MESSAGES_PER_MINUTE", 10, minimum=0)
CHAT_RATE_IP_MESSAGES_PER_MINUTE = env_int("CHAT_RATE_IP_MESSAGES_PER_MINUTE", 30, minimum=0)
CHAT_RATE_WIDGET_MESSAGES_PER_MINUTE = env_int("CHAT_RATE_WIDGET_MESSAGES_PER_MINUTE", 600, minimum=0)
CHAT_RATE_VISITOR_CONVERSATIONS_PER_HOUR = env_int("CHAT_RATE_VISITOR_CONVERSATIONS_PER_HOUR", 20, minimum=0)
CHAT_RATE_IP_CONVERSATIONS_PER_HOUR = env_int("CHAT_RATE_IP_CONVERSATIONS_PER_HOUR", 60, minimum=0)
CHAT_RATE_WIDGET_CONVERSATIONS_PER_HOUR = env_int("CHAT_RATE_WIDGET_CONVERSATIONS_PER_HOUR", 3000, minimum=0)
# Prompt + completion tokens of a widget's bot answers per UTC day; past it, answers come from the offline answerer.
CHAT_DAILY_TOKEN_BUDGET = env_int("CHAT_DAILY_TOKEN_BUDGET", 1_000_000, minimum=0)
# Addresses (or networks) of reverse proxies whose X-Forwarded-For is believed; empty: the peer address only.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# The widget's signed session token: how long it may be used to open a websocket after it was issued.
WIDGET_TOKEN_MAX_AGE_SECONDS = env_int("WIDGET_TOKEN_MAX_AGE_SECONDS", 300, minimum=5)
# /metrics wants "Authorization: Bearer METRICS_TOKEN" when set; unset, it is open (keep it off the internet).
METRICS_TOKEN = env_str("METRICS_TOKEN")

if KB_SYNC_INTERVAL_MINUTES:
    CELERY_BEAT_SCHEDULE = {
        "kb-sync-sources": {"task": "kb.tasks.sources_sync_task", "schedule": KB_SYNC_INTERVAL_MINUTES * 60.0}
    }
# Feedback: implicit signals (escalated / rephrased / left, after this much idle time) every 10 minutes.
FEEDBACK_LEFT_AFTER_MINUTES = env_int("FEEDBACK_LEFT_AFTER_MINUTES", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    **globals().get("CELERY_BEAT_SCHEDULE", {}),
    "feedback-implicit-signals": {"task": "feedback.tasks.implicit_signals_task", "schedule": 600.0},
    "kb-recover-jobs": {"task": "kb.tasks.ingestion_jobs_recover_task", "schedule": 300.0},
}

# --- Unanswered questions (issue #13; supportbot/chat/recovery.py) ---------------------------------------------
# A bot reply still unfinished this long after its answerer claimed it is taken over (its process died); longer
# than any answer takes (LLM_TIMEOUT_SECONDS, failover and a re-ask). A reply whose connection closed mid-answer
# is taken over at once.
CHAT_ANSWER_GRACE_SECONDS = env_int("CHAT_ANSWER_GRACE_SECONDS", 120, minimum=1)
# How often the sweep answers the replies left unfinished by visitors who never came back: a Celery beat task
# with a broker, a loop in the server process without one. 0 turns the sweep off.
CHAT_SWEEP_SECONDS = env_int("CHAT_SWEEP_SECONDS", 60, minimum=0)
if CHAT_SWEEP_SECONDS:
    CELERY_BEAT_SCHEDULE["chat-answers-sweep"] = {
        "task": "supportbot.chat.tasks.answers_sweep_task",
        "schedule": float(CHAT_SWEEP_SECONDS),
    }
# --- end of unanswered questions ----------------------------------------------------------------------------------

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
# Probes and Prometheus inside the network speak plain HTTP to the process.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# The agent console signs staff in itself; failed sign-ins are counted in the cache (shared through Redis).
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:inbox"
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Limits: visitor identity, session-token requests, address groups, budget shares (issue #13) -------------
# supportbot/chat/limits.py and tokens.py; docs/operations.md. Session tokens asked for per minute from one
# address (group) and for one widget: each new visitor id costs one, so rotating ids is limited. 0 = no limit.
CHAT_RATE_IP_SESSIONS_PER_MINUTE = env_int("CHAT_RATE_IP_SESSIONS_PER_MINUTE", 30, minimum=0)
CHAT_RATE_WIDGET_SESSIONS_PER_MINUTE = env_int("CHAT_RATE_WIDGET_SESSIONS_PER_MINUTE", 3000, minimum=0)
# Per-address limits count an IPv6 client by its network of this prefix: one subscriber usually holds a whole /64.
CHAT_RATE_IPV6_PREFIX = env_int("CHAT_RATE_IPV6_PREFIX", 64, minimum=16, maximum=128)
# The share of a widget's daily token budget one visitor, and one address group, may spend (1 = no own cap).
CHAT_VISITOR_BUDGET_SHARE = env_share("CHAT_VISITOR_BUDGET_SHARE", 0.1)
CHAT_ADDRESS_BUDGET_SHARE = env_share("CHAT_ADDRESS_BUDGET_SHARE", 0.25)
# The counters have a cache of their own, so nothing else evicts them: on Redis with short timeouts (a dead
# Redis costs a second, not a hang), else process memory that only drops expired counters until it holds this
# many live ones (supportbot/chat/counter_cache.py). The database cache was not chosen: its incr is not atomic.
CHAT_LIMITS_CACHE_MAX_ENTRIES = env_int("CHAT_LIMITS_CACHE_MAX_ENTRIES", 1_000_000, minimum=1000)
if REDIS_URL:
    CACHES["limits"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
else:
    CACHES["limits"] = {
        "BACKEND": "supportbot.chat.counter_cache.CounterCache",
        "LOCATION": "supportbot-limits",
        "OPTIONS": {"MAX_ENTRIES": CHAT_LIMITS_CACHE_MAX_ENTRIES},
    }
# --- end of limits ----------------------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy on every page Supportbot renders (issue #13; django-csp; docs/security.md) ----------
# Templates load scripts and styles from static files only (no inline <script>, <style>, on*= or style=), so a
# script or handler injected into a page never runs. connect-src 'self' also covers the console's ws:/wss: socket
# to the same host (CSP Level 3; tests/test_csp_browser.py checks it in chromium). Pages are never framed. The
# Django admin needs no exception (same test). Right after SecurityMiddleware, so every response carries it.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# --- end of Content-Security-Policy ----------------------------------------------------------------------------

# --- Sign-in throttling (issue #13; supportbot/console/throttling.py, docs/security.md) ----------------------------
# The console's and the admin's sign-in, counted by client address (TRUSTED_PROXIES decides what that is). Failures
# within 15 minutes before further attempts are refused: for one username from one address, and from one address
# for any username (looser: password spraying). There is deliberately no per-username limit for everyone.
SIGNIN_FAILURES_PER_ACCOUNT = env_int("SIGNIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
SIGNIN_FAILURES_PER_ADDRESS = env_int("SIGNIN_FAILURES_PER_ADDRESS", 50, minimum=1)
# --- end of sign-in throttling ----------------------------------------------------------------------------------

LANGUAGE_CODE = "en"
# The console, the widget and the visitor-facing texts of the bot; docs/multilingual.md says how to add one.
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOG_LEVEL = env_choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
# json: one JSON object a line with request_id and conversation_id, for a log collector.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", ("plain", "json"))
LOGGING = logging_config(level=LOG_LEVEL, log_format=LOG_FORMAT)
