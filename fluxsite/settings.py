"""Flux settings. Everything comes from environment variables, with defaults that run embedded
(SQLite, in-memory channel layer, local files) and scale out (DATABASE_URL, REDIS_URL)."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import dj_database_url

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime state of the embedded setup: database, uploaded media, TLS certificate, secret key.
VAR_DIR = Path(env_str("FLUX_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # A self-hosted install keeps its own random key on disk instead of a shared default.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def _local_addresses() -> list[str]:
    """This machine's LAN addresses, so that a phone on the same network may connect."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(info[4][0])
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent; this only picks the outgoing interface
            found.add(s.getsockname()[0])
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127."))


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", socket.gethostname(), *_local_addresses()]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "capture",
    "reconstruction",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fluxsite.urls"
ASGI_APPLICATION = "fluxsite.asgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'flux.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the task worker share the file: wait for locks instead of failing, and
    # let readers proceed while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests use a file, not memory, so that a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": env_str("FLUX_TEST_DB", str(VAR_DIR / "test-flux.sqlite3"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
# Failed sign-ins (accounts.throttle) and the shutter's pace (capture.consumers) are counted in
# these caches: process memory for the one embedded web process, Redis when there may be several.
if REDIS_URL:
    _prefix = env_str("FLUX_CHANNEL_PREFIX", "flux")
    CACHES = {
        name: {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": prefix}
        for name, prefix in (("default", _prefix), ("throttle", f"{_prefix}-throttle"))
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "flux-throttle"},
    }
FLUX_THROTTLE_CACHE = "throttle"
# Web processes `manage.py serve` starts on one shared socket: one per core where Redis carries
# the channel layer and the caches between them; one without (the in-memory layer is per process).
FLUX_WEB_PROCESSES = env_int("FLUX_WEB_PROCESSES", (os.cpu_count() or 1) if REDIS_URL else 1)

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # No read timeout: a socket's receive blocks on Redis (BZPOPMIN) for seconds, and
            # redis-py 8's default of 5 s tore every idle consumer down with a TimeoutError
            # (channels_redis issue 422; seen here with two web processes).
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "prefix": env_str("FLUX_CHANNEL_PREFIX", "flux"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "capture:shoot"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(env_str("FLUX_MEDIA_DIR", str(VAR_DIR / "media")))
# Shots are private: media is never served by URL, only through views that check the owner.
MEDIA_URL = "/private-media/"

SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
# FLUX_PRODUCTION=1 behind real TLS: https only (HSTS, redirects, cookies never sent in clear),
# which `manage.py check --deploy` then passes without a warning. Off by default because the
# embedded server also answers plain http on the LAN for phones that refuse its certificate.
FLUX_PRODUCTION = env_bool("FLUX_PRODUCTION", False)
if FLUX_PRODUCTION:
    SECURE_HSTS_SECONDS = env_int("FLUX_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("FLUX_BEHIND_PROXY", False) else None
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Flux ---------------------------------------------------------------------------------------

# Live frames: a JPEG over FLUX_MAX_FRAME_BYTES or FLUX_MAX_FRAME_WIDTH×HEIGHT is refused.
FLUX_MAX_FRAME_BYTES = env_int("FLUX_MAX_FRAME_BYTES", 2 * 1024 * 1024)
FLUX_MAX_FRAME_WIDTH = env_int("FLUX_MAX_FRAME_WIDTH", 1920)
FLUX_MAX_FRAME_HEIGHT = env_int("FLUX_MAX_FRAME_HEIGHT", 1080)
# Frames per second one socket may send before the server starts warning and dropping.
FLUX_MAX_FPS = env_float("FLUX_MAX_FPS", 30.0)
# Analysis threads for the whole web process (CPU work never runs on the event loop).
FLUX_ANALYSIS_THREADS = env_int("FLUX_ANALYSIS_THREADS", 2)
# Threads that reconstruct shots after the shutter; shots beyond it wait their turn.
FLUX_RECONSTRUCTION_THREADS = env_int("FLUX_RECONSTRUCTION_THREADS", 1)
# Shots one user may have waiting or developing; the next shutter gets "busy" and saves nothing.
FLUX_MAX_PENDING_SHOTS = env_int("FLUX_MAX_PENDING_SHOTS", 3)
# Shutters per second one user may press (over all their sockets), with a short burst allowed.
FLUX_SHUTTER_RATE = env_float("FLUX_SHUTTER_RATE", 3.0)
FLUX_SHUTTER_BURST = env_float("FLUX_SHUTTER_BURST", 6.0)
# Camera sockets one user may hold open at once (tabs, phones).
FLUX_MAX_SOCKETS_PER_USER = env_int("FLUX_MAX_SOCKETS_PER_USER", 8)
# Refresh the person mask of a live stream every N frames (it moves slowly; the segmenter costs ~5 ms a frame).
FLUX_SEGMENT_EVERY = env_int("FLUX_SEGMENT_EVERY", 3)
# A live frame that waited this long for a free analysis thread is answered as "busy": the page
# says the meters slowed down because the server is busy (every stream still gets its turn).
FLUX_BUSY_WAIT_MS = env_float("FLUX_BUSY_WAIT_MS", 100.0)
# Learning data: keep at most one live frame per this many seconds per stream ...
FLUX_LEARNING_INTERVAL_S = env_float("FLUX_LEARNING_INTERVAL_S", 1.0)
# ... and at most this many per user, the oldest dropped first.
FLUX_LEARNING_MAX_PER_USER = env_int("FLUX_LEARNING_MAX_PER_USER", 1500)
# Training: the newest N learning frames are used; a running run silent this long has died (its
# worker beats every FLUX_TRAINING_BEAT_S), and another worker takes it over, at most
# FLUX_TRAINING_ATTEMPTS starts in all (a run that kills its worker each time then fails).
FLUX_TRAINING_MAX_SAMPLES = env_int("FLUX_TRAINING_MAX_SAMPLES", 400)
FLUX_TRAINING_STALE_S = env_int("FLUX_TRAINING_STALE_S", 30)
FLUX_TRAINING_BEAT_S = env_float("FLUX_TRAINING_BEAT_S", 5.0)
FLUX_TRAINING_ATTEMPTS = env_int("FLUX_TRAINING_ATTEMPTS", 2)
# The worker keeps its analyses of learning frames for its next run (a fine-tune reads them
# again), up to this many MiB.
FLUX_ANALYSIS_CACHE_MB = env_int("FLUX_ANALYSIS_CACHE_MB", 256)
# Content Credentials (C2PA) in every recorded photo. By default this installation is its own
# certificate authority, made on first use in FLUX_C2PA_DIR (private keys 0600; several machines
# must share the folder, or files signed on one read as untrusted on another). A deployment with a
# certificate chain of its own names it, its key and the roots to trust instead. A timestamp
# authority (an RFC 3161 URL) is used only when one is set: Flux signs offline.
FLUX_C2PA_DIR = Path(env_str("FLUX_C2PA_DIR", str(VAR_DIR / "credentials")))
FLUX_C2PA_NAME = env_str("FLUX_C2PA_NAME", "Flux")
FLUX_C2PA_CHAIN = env_str("FLUX_C2PA_CHAIN", "")
FLUX_C2PA_KEY = env_str("FLUX_C2PA_KEY", "")
FLUX_C2PA_TRUST = env_str("FLUX_C2PA_TRUST", "")
FLUX_C2PA_ALG = env_str("FLUX_C2PA_ALG", "es256")
FLUX_C2PA_TSA_URL = env_str("FLUX_C2PA_TSA_URL", "")
# With at least this many learning frames, a fifth is held out to measure each new version.
FLUX_EVALUATION_MIN_SAMPLES = env_int("FLUX_EVALUATION_MIN_SAMPLES", 25)
# CPU threads a training run may use (the web process keeps the rest for live analysis).
FLUX_TRAINING_THREADS = env_int("FLUX_TRAINING_THREADS", max(1, (os.cpu_count() or 2) - 1))
# ... at this niceness (0-19): training yields the CPU to live analysis and the shutter, which keep
# their budgets while a run trains; 0 switches it off.
FLUX_TRAINING_NICE = env_int("FLUX_TRAINING_NICE", 10)
# ... and pauses between its steps while a shot develops on the same machine (reconstruction.cpu).
FLUX_TRAINING_YIELDS = env_bool("FLUX_TRAINING_YIELDS", True)
# Training starts by itself for untrained groups once a user has this many learning frames.
FLUX_AUTO_TRAIN_MIN_SAMPLES = env_int("FLUX_AUTO_TRAIN_MIN_SAMPLES", 120)
# Long side of a stored learning frame, in pixels.
FLUX_LEARNING_MAX_SIDE = env_int("FLUX_LEARNING_MAX_SIDE", 640)
# The frames of the last seconds each socket keeps in memory for the shutter's exemplars (FIG. 2):
# bounded by age, count and bytes, freed when the socket closes.
FLUX_RECENT_SECONDS = env_float("FLUX_RECENT_SECONDS", 6.0)
FLUX_RECENT_FRAMES = env_int("FLUX_RECENT_FRAMES", 40)
FLUX_RECENT_BYTES = env_int("FLUX_RECENT_BYTES", 6 * 1024 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
