"""Settings for the shop, every value from the environment.

Two modes, switched by the presence of DATABASE_URL / REDIS_URL:
- embedded (neither set): SQLite under var/, an in-process Redis stand-in (fakeredis),
  Celery tasks run eagerly, an in-memory channel layer. Needs no service.
- services: PostgreSQL from DATABASE_URL, Redis from REDIS_URL, Celery over a broker.

Production is DJANGO_DEBUG=false: it refuses to start without a real DJANGO_SECRET_KEY.
"""

import os
import socket
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# Variables from a file (.env beside manage.py, or SHOP_ENV_FILE), under those of the
# process environment.
ENV_FILE = Path(os.environ.get("SHOP_ENV_FILE") or BASE_DIR / ".env")
environ.Env.read_env(ENV_FILE, overwrite=False)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] + "://" if "://" in url else "no scheme"


def _postgres_url(variable: str, url: str) -> dict:
    """Django's settings for a PostgreSQL URL, or one sentence naming the variable
    (never the URL itself: it may hold a password)."""
    example = "postgres://user:password@host:5432/shop"
    try:
        config = env.db_url_config(url)
    except Exception as error:
        raise ImproperlyConfigured(
            f"{variable} is not a valid PostgreSQL URL ({error}); expected {example}."
        ) from None
    if not config.get("ENGINE", "").endswith("postgresql"):
        raise ImproperlyConfigured(
            f"{variable} must be a PostgreSQL URL such as {example}, not "
            f"{_scheme(url)}."
        )
    return config


def _redis_url(variable: str, url: str) -> str:
    """A Redis URL (redis://, rediss:// or unix://), or one sentence naming the
    variable."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            f"{variable} must be a Redis URL such as redis://host:6379/0 "
            f"(redis://, rediss:// or unix://), not {_scheme(url)}."
        )
    return url


EMBEDDED_DATABASE = not env.str("DATABASE_URL", default="")
EMBEDDED_REDIS = not env.str("REDIS_URL", default="")

# ---------------------------------------------------------------- core

# A local checkout runs in debug; anything given a database defaults to production.
DEBUG = env.bool("DJANGO_DEBUG", default=EMBEDDED_DATABASE)

_DEV_SECRET_KEY = "insecure-development-key-only-for-embedded-mode-0123456789"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY)
if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is off (production) but DJANGO_SECRET_KEY is unset, the "
        "development default, or shorter than 32 characters. Set a long random "
        "DJANGO_SECRET_KEY."
    )

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
if DEBUG and not CORS_ALLOWED_ORIGINS:
    # A storefront dev server on this machine (localhost:3000, :5173...) may call.
    CORS_ALLOWED_ORIGIN_REGEXES = [r"^https?://(localhost|127\.0\.0\.1)(:\d+)?$"]
CORS_URLS_REGEX = r"^/graphql/?$"
# A storefront may read the request id of an answer (to quote it to support).
CORS_EXPOSE_HEADERS = ["X-Request-ID"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "corsheaders",
    "channels",
    "strawberry_django",
    "graphql_jwt.refresh_token.apps.RefreshTokenConfig",
    "shop.accounts",
    "shop.catalog",
    "shop.cart",
    "shop.orders",
    "shop.payments",
    "shop.reviews",
    "shop.taxes",
    "shop.shipping",
    "shop.discounts",
    "shop.demo",
    "workers.apps.WorkersConfig",
    "shop.core",
]

MIDDLEWARE = [
    # First: its request id and its line cover every response, errors included.
    "shop.core.middleware.RequestLogMiddleware",
    # Counts and times every request for /metrics (while METRICS_ENABLED is on).
    "shop.core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Streams WhiteNoise's files to ASGI servers without Django's warning.
    "shop.core.middleware.AsyncFileStreamsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "shop.accounts.middleware.BearerAuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
ASGI_APPLICATION = "shop.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "shop" / "templates"],
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

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default=str(VAR_DIR / "static"))
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
# Product images (shop.catalog.media): the file system under var/media/ by
# default, served by the shop itself at MEDIA_URL; any S3-compatible store when
# MEDIA_S3_BUCKET is set (django-storages), its files public at MEDIA_PUBLIC_URL
# (the bucket's or a CDN's base URL).
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", default="")
MEDIA_PUBLIC_URL = env.str("MEDIA_PUBLIC_URL", default="")
_media_storage = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
}
if MEDIA_S3_BUCKET:
    from urllib.parse import urlsplit as _urlsplit

    _public = _urlsplit(MEDIA_PUBLIC_URL) if MEDIA_PUBLIC_URL else None
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("MEDIA_S3_REGION", default="") or None,
            "access_key": env.str("MEDIA_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("MEDIA_S3_SECRET_ACCESS_KEY", default="") or None,
            # Public, immutable objects: no signed URLs, cached forever.
            "querystring_auth": False,
            "default_acl": env.str("MEDIA_S3_ACL", default="") or None,
            "file_overwrite": True,
            "object_parameters": {
                "CacheControl": "public, max-age=31536000, immutable"
            },
            "custom_domain": (
                (_public.netloc + _public.path.rstrip("/")) if _public else None
            ),
            "url_protocol": f"{_public.scheme}:" if _public else "https:",
        },
    }
STORAGES = {
    "default": _media_storage,
    # No manifest: a process started without collectstatic still renders the admin.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads: the byte cap of one image, its pixel cap (a hard error: decompression
# bombs), and how many files one multipart request may carry (Django refuses more
# before reading them).
MEDIA_MAX_BYTES = env.int("MEDIA_MAX_BYTES", default=20 * 1024 * 1024)
MEDIA_MAX_PIXELS = env.int("MEDIA_MAX_PIXELS", default=40_000_000)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("MEDIA_MAX_FILES", default=10)
# WhiteNoise serves from the app folders too, so collectstatic is optional.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if not DEBUG:
    # Production speaks HTTPS only. Behind a proxy that terminates TLS, name the
    # header it sets to say the client used https (X-Forwarded-Proto); only when
    # the proxy always sets it: a client reaching the app directly could send it.
    _proxy_ssl_header = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", default="")
    if _proxy_ssl_header:
        SECURE_PROXY_SSL_HEADER = (
            "HTTP_" + _proxy_ssl_header.upper().replace("-", "_"),
            "https",
        )
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    # Probes and scrapers on the private network speak plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/$", r"^readyz/$", r"^metrics/?$"]
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True
    )
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        # Joining the browsers' preload list is a deliberate, hard to undo choice
        # for the whole domain: off unless asked for, without a warning.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_CONTENT_TYPE_NOSNIFF = True

# ---------------------------------------------------------------- tokens

# django-graphql-jwt's machinery, with the defaults a shop needs: access tokens
# that expire, long-running refresh tokens stored in the database, Bearer prefix.
# Access tokens name the user's id ("sub"), not the email (shop.accounts.tokens).
GRAPHQL_JWT = {
    "JWT_PAYLOAD_HANDLER": "shop.accounts.tokens.jwt_payload",
    "JWT_PAYLOAD_GET_USERNAME_HANDLER": "shop.accounts.tokens.jwt_payload_user_id",
    "JWT_GET_USER_BY_NATURAL_KEY_HANDLER": "shop.accounts.tokens.user_by_jwt_subject",
    "JWT_VERIFY_EXPIRATION": True,
    "JWT_EXPIRATION_DELTA": timedelta(
        minutes=env.int("JWT_ACCESS_TOKEN_MINUTES", default=15)
    ),
    "JWT_LONG_RUNNING_REFRESH_TOKEN": True,
    "JWT_REFRESH_EXPIRATION_DELTA": timedelta(
        days=env.int("JWT_REFRESH_TOKEN_DAYS", default=30)
    ),
    "JWT_AUTH_HEADER_PREFIX": "Bearer",
    "JWT_REFRESH_TOKEN_N_BYTES": 32,
}

# Failed sign-ins tolerated per window before tokenAuth answers THROTTLED.
LOGIN_FAILURES_PER_EMAIL = env.int("LOGIN_FAILURES_PER_EMAIL", default=5)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=20)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
# register attempts (whatever their outcome) per client IP per window. Generous: an
# office or a mobile carrier's NAT puts many buyers behind one address; this only
# caps scripted sign-ups and probing which emails have accounts.
REGISTRATIONS_PER_IP = env.int("REGISTRATIONS_PER_IP", default=50)
REGISTRATION_WINDOW_SECONDS = env.int("REGISTRATION_WINDOW_SECONDS", default=3600)
# Wrong voucher codes tolerated per cart and per client IP per window (checked
# codes that turn out valid are not counted); once at the limit, every code, even
# a valid one, is refused with THROTTLED until the window ends.
VOUCHER_FAILURES_PER_CART = env.int("VOUCHER_FAILURES_PER_CART", default=5)
VOUCHER_FAILURES_PER_IP = env.int("VOUCHER_FAILURES_PER_IP", default=20)
VOUCHER_FAILURE_WINDOW_SECONDS = env.int("VOUCHER_FAILURE_WINDOW_SECONDS", default=900)
# When Redis (the attempt counters) does not answer: true lets sign-ins and
# registrations through unthrottled (logged); false refuses them with
# SERVICE_UNAVAILABLE until Redis is back.
THROTTLE_FAIL_OPEN = env.bool("THROTTLE_FAIL_OPEN", default=True)
# Reverse proxies in front of the app that append to X-Forwarded-For; 0 trusts none
# and takes the client IP from the connection.
TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)

# ---------------------------------------------------------------- database

if EMBEDDED_DATABASE:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(env.str("SQLITE_PATH", default=str(VAR_DIR / "shop.sqlite3"))),
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent
                # read-then-write transactions wait instead of failing.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
else:
    DATABASES = {"default": _postgres_url("DATABASE_URL", env.str("DATABASE_URL"))}
    # Each process keeps a pool of at most DB_POOL_MAX_SIZE connections, however
    # many requests it serves at once (under ASGI every request runs in a thread of
    # its own: persistent per-thread connections would grow with concurrency).
    # A request that finds the pool busy waits up to DB_POOL_TIMEOUT_SECONDS.
    # A process holds at most DB_POOL_MAX_SIZE connections: keep (web processes +
    # Celery worker processes + beat) x DB_POOL_MAX_SIZE under PostgreSQL's
    # max_connections. DB_POOL_MAX_SIZE=0 turns the pool off (persistent
    # connections, DB_CONN_MAX_AGE: for WSGI or behind PgBouncer).
    DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=8)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(env.int("DB_POOL_MIN_SIZE", default=1), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env.float("DB_POOL_TIMEOUT_SECONDS", default=10.0),
            # Idle connections above min_size are closed after this many seconds.
            "max_idle": 300,
        }
    else:
        DATABASES["default"].setdefault(
            "CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60)
        )
    # Connections are checked before use: a restarted PostgreSQL costs no request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
        "DATABASE_TEST_NAME", default="test_shop"
    )

# Read replicas of DATABASE_URL (comma-separated URLs; ignored in embedded mode):
# aliases replica1, replica2... with the primary's pool and health checks (a pool
# per alias and process, opened by the first read routed there). GraphQL queries
# read the catalog and reviews from one of them; mutations, checkout, payments,
# the admin, Celery and anything after a write read the primary (see
# shop/core/db_routers.py). Without replicas there is no router and no middleware.
_REPLICA_URLS = [
    url.strip() for url in env.list("DATABASE_REPLICA_URLS", default=[]) if url.strip()
]
if EMBEDDED_DATABASE:
    _REPLICA_URLS = []
for _number, _url in enumerate(_REPLICA_URLS, start=1):
    _replica = _postgres_url("DATABASE_REPLICA_URLS", _url)
    _replica["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    _replica["CONN_HEALTH_CHECKS"] = DATABASES["default"]["CONN_HEALTH_CHECKS"]
    if "pool" in DATABASES["default"].get("OPTIONS", {}):
        _replica.setdefault("OPTIONS", {})["pool"] = dict(
            DATABASES["default"]["OPTIONS"]["pool"]
        )
    # Tests read the test database through it (no database of its own).
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica{_number}"] = _replica
if _REPLICA_URLS:
    DATABASE_ROUTERS = ["shop.core.db_routers.ReplicaRouter"]
    MIDDLEWARE.append("shop.core.db_routers.ReplicaReadsMiddleware")

# ---------------------------------------------------------------- redis

REDIS_URL = _redis_url(
    "REDIS_URL", env.str("REDIS_URL", default="redis://embedded:6379/0")
)


def _test_worker_redis_url(url: str) -> str:
    """Under pytest-xdist (scripts/test), each worker its own Redis database: the
    tests flush theirs before and after each test. Worker gwN takes the database
    N below REDIS_URL's; written back to the environment, so the servers and
    commands a test starts inherit the worker's database rather than moving again.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or os.environ.get("SHOP_TEST_WORKER_REDIS"):
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    database = base - int(worker[2:])
    if database < 0:
        raise ImproperlyConfigured(
            f"{worker} needs Redis database {database}: give TEST_REDIS_URL a "
            "database number at least as high as the number of test workers."
        )
    url = urlunsplit(parts._replace(path=f"/{database}"))
    os.environ["REDIS_URL"] = os.environ["SHOP_TEST_WORKER_REDIS"] = url
    return url


if not EMBEDDED_REDIS:
    REDIS_URL = _test_worker_redis_url(REDIS_URL)

if EMBEDDED_REDIS:
    import fakeredis

    # fakeredis shares one in-process server per host/port/db.
    _REDIS_CONNECTION_KWARGS = {"connection_class": fakeredis.FakeRedisConnection}
else:
    _REDIS_CONNECTION_KWARGS = {"health_check_interval": 30}

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="shop"),
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "CONNECTION_POOL_KWARGS": dict(_REDIS_CONNECTION_KWARGS),
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
        },
    }
}
# Probe an idle Redis connection after 10 s, every 5 s, 3 times (Linux names).
_TCP_KEEPALIVE = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}
# The channel layer can spread over several Redis servers: channels_redis shards
# channels and groups across them by hash (every process must list the same ones,
# in the same order). Default: REDIS_URL alone.
CHANNEL_REDIS_URLS = [
    _redis_url("CHANNEL_REDIS_URLS", url)
    for url in env.list("CHANNEL_REDIS_URLS", default=[REDIS_URL])
]
if EMBEDDED_REDIS:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "shop.core.channel_layers.ShopRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": address,
                        # channels_redis waits for messages with a 5 s blocking
                        # read (BZPOPMIN ... 5); redis-py 8 gives up reading after
                        # 5 s by default, which crashed idle WebSocket consumers.
                        # No read timeout (any timeout also wraps every write in
                        # asyncio.wait_for, which on Python 3.11 can swallow the
                        # cancellation of a closing socket's receive loop); TCP
                        # keepalive makes a half-open connection fail instead.
                        "socket_timeout": None,
                        "socket_connect_timeout": 2,
                        "socket_keepalive": True,
                        "socket_keepalive_options": _TCP_KEEPALIVE,
                        "health_check_interval": 30,
                        # Connections per process; a burst of sockets joining or
                        # leaving their groups waits for one (up to "timeout" s)
                        # instead of failing (see shop.core.channel_layers).
                        "max_connections": 100,
                        "timeout": 20,
                    }
                    for address in CHANNEL_REDIS_URLS
                ],
                # Messages waiting per channel (one per process for a group send).
                "capacity": 5000,
            },
        }
    }

# ---------------------------------------------------------------- celery

CELERY_BROKER_URL = env.str(
    # The in-memory broker with a host name: kombu warns about one without.
    "CELERY_BROKER_URL",
    default="memory://localhost/" if EMBEDDED_REDIS else REDIS_URL,
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=EMBEDDED_REDIS)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request enqueuing a task gives up on an unreachable broker within a second.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TIMEZONE = TIME_ZONE
# How often beat checks for a sale boundary passed and not applied yet; each check
# also schedules a task at the exact moment of every boundary within the next
# period, so prices change on the second (this is only the safety net).
SALES_CHECK_SECONDS = env.int("SALES_CHECK_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    "orders-expire": {
        "task": "workers.tasks.orders.orders_expire",
        "schedule": env.int("ORDER_EXPIRY_CHECK_SECONDS", default=60),
    },
    "sales-apply": {
        "task": "workers.tasks.discounts.sales_check",
        "schedule": SALES_CHECK_SECONDS,
    },
}

# ---------------------------------------------------------------- stripe

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")
# Retries of a failed call (safe: every create carries an idempotency key) and
# seconds per try; a storefront request waits for them.
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=10.0)
# How old (or how far ahead) a webhook signature's timestamp may be.
STRIPE_WEBHOOK_TOLERANCE_SECONDS = env.int(
    "STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300
)

if not DEBUG:
    _stripe_problems = []
    if not STRIPE_SECRET_KEY.startswith(("sk_", "rk_")):
        _stripe_problems.append(
            "STRIPE_SECRET_KEY (a secret key sk_live_... / sk_test_..., or a "
            "restricted rk_... key; not the publishable pk_... key)"
        )
    if not STRIPE_WEBHOOK_SECRET.startswith("whsec_"):
        _stripe_problems.append("STRIPE_WEBHOOK_SECRET (the signing secret whsec_...)")
    if _stripe_problems:
        raise ImproperlyConfigured(
            "DJANGO_DEBUG is off (production) but Stripe is not configured: set "
            + " and ".join(_stripe_problems)
            + "."
        )

# ---------------------------------------------------------------- the shop

SHOP_CURRENCY = env.str("SHOP_CURRENCY", default="USD").upper()
# Whether catalog prices include tax (EU style: the shelf price is what every buyer
# pays, and the tax in it is extracted at the destination's rate) or not (US style:
# tax is added at checkout). shop.orders.totals has the arithmetic.
PRICES_INCLUDE_TAX = env.bool("PRICES_INCLUDE_TAX", default=True)

# Unpaid orders give their stock back after this many minutes.
ORDER_RESERVATION_MINUTES = env.int("ORDER_RESERVATION_MINUTES", default=30)

# Carts: days an untouched cart lives, the most of one item, the most lines.
CART_TTL_DAYS = env.int("CART_TTL_DAYS", default=30)
CART_MAX_LINE_QUANTITY = env.int("CART_MAX_LINE_QUANTITY", default=99)
CART_MAX_LINES = env.int("CART_MAX_LINES", default=100)

# GraphQL guards: reject abusive documents before they execute.
GRAPHQL_MAX_DEPTH = env.int("GRAPHQL_MAX_DEPTH", default=10)
GRAPHQL_MAX_ALIASES = env.int("GRAPHQL_MAX_ALIASES", default=30)
GRAPHQL_MAX_TOKENS = env.int("GRAPHQL_MAX_TOKENS", default=2000)
GRAPHQL_MAX_PAGE_SIZE = 100
# Documents (by text) whose parse and validation each process keeps, so a
# storefront's repeated queries skip both; least recently used ones go first.
GRAPHQL_DOCUMENT_CACHE_SIZE = env.int("GRAPHQL_DOCUMENT_CACHE_SIZE", default=256)
# A query seen this many times in a process (a persisted query at once) is
# executed as a plan compiled for it (schema.plans): the same answer, byte for
# byte, with graphql-core's per-field work done once. false: never.
GRAPHQL_PLANS = env.bool("GRAPHQL_PLANS", default=True)
GRAPHQL_PLAN_AFTER = env.int("GRAPHQL_PLAN_AFTER", default=2)
# Introspection (__schema, __type) answers by default: the schema is public (the
# SDL is in the repository) and storefront code generators and GraphiQL need it.
# Off, such queries are refused with GRAPHQL_VALIDATION_FAILED.
GRAPHQL_INTROSPECTION = env.bool("GRAPHQL_INTROSPECTION", default=True)
# The GraphiQL page (a browser GET on /graphql/): on in development, off in
# production, where nobody should paste a token into a page on the API's origin.
GRAPHQL_GRAPHIQL = env.bool("GRAPHQL_GRAPHIQL", default=DEBUG)
# The most objects one operation may ask for (page sizes multiplied through the
# nesting, aliases and fragments counted, variables included); a plain list counts
# as GRAPHQL_COST_LIST_SIZE items. Refused before it runs: QUERY_TOO_COMPLEX.
GRAPHQL_MAX_COST = env.int("GRAPHQL_MAX_COST", default=20000)
GRAPHQL_COST_LIST_SIZE = env.int("GRAPHQL_COST_LIST_SIZE", default=5)
# Automatic persisted queries (Apollo's protocol): a document a client registered
# by its SHA-256 is kept in Redis this many seconds (then registered again on the
# client's next use, one more round trip).
GRAPHQL_APQ_TTL_SECONDS = env.int("GRAPHQL_APQ_TTL_SECONDS", default=86_400)
# Anyone may register a document, so registration is bounded per window of
# GRAPHQL_APQ_TTL_SECONDS: new documents per client (an IPv4 address or an IPv6
# /64), and bytes of new documents from all clients together (what registered
# documents hold in Redis stays under twice that). Over a limit the document still
# runs, unregistered. Documents over 64 KiB are never registered.
GRAPHQL_APQ_REGISTRATIONS_PER_CLIENT = env.int(
    "GRAPHQL_APQ_REGISTRATIONS_PER_CLIENT", default=100
)
GRAPHQL_APQ_REGISTERED_BYTES = env.int(
    "GRAPHQL_APQ_REGISTERED_BYTES", default=16 * 1024 * 1024
)
# Run only documents registered ahead of time (manage.py persisted_queries
# register): any other is refused with PERSISTED_QUERY_NOT_ALLOWED, and clients
# cannot register documents themselves.
GRAPHQL_PERSISTED_QUERIES_ONLY = env.bool(
    "GRAPHQL_PERSISTED_QUERIES_ONLY", default=False
)
# The response cache (schema/response_cache/): anonymous catalog queries
# answered from Redis before Django, each entry valid until something it was built
# from changes (the products, variants, categories, attributes and reviews it
# shows, the lists it depends on: shop.catalog.cache_tags) and at most
# GRAPHQL_RESPONSE_CACHE_TTL seconds (what bounds a stale answer if Redis missed a
# change); answers over GRAPHQL_RESPONSE_CACHE_MAX_BYTES are not kept.
GRAPHQL_RESPONSE_CACHE = env.bool("GRAPHQL_RESPONSE_CACHE", default=True)
# Each web process listens (PostgreSQL LISTEN) for catalog writes made outside
# Django (psql, other programs) and sends their tags to Redis within milliseconds.
# The test suite turns it off where it would hold a connection to the test database.
GRAPHQL_RESPONSE_CACHE_LISTENER = env.bool(
    "GRAPHQL_RESPONSE_CACHE_LISTENER", default=True
)
GRAPHQL_RESPONSE_CACHE_TTL = env.int("GRAPHQL_RESPONSE_CACHE_TTL", default=300)
GRAPHQL_RESPONSE_CACHE_MAX_BYTES = env.int(
    "GRAPHQL_RESPONSE_CACHE_MAX_BYTES", default=1_048_576
)
# What the cache keeps per window of GRAPHQL_RESPONSE_CACHE_TTL, in bytes of
# entries: for one client (an IPv4 address or an IPv6 /64; allow-listed documents
# are not counted against it), and for all clients together (entries live one
# window, so the cache holds at most twice that). Beyond, answers are not kept.
GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES = env.int(
    "GRAPHQL_RESPONSE_CACHE_CLIENT_BYTES", default=8 * 1024 * 1024
)
GRAPHQL_RESPONSE_CACHE_TOTAL_BYTES = env.int(
    "GRAPHQL_RESPONSE_CACHE_TOTAL_BYTES", default=128 * 1024 * 1024
)
# Cache-Control max-age of anonymous catalog GETs: how long a CDN or a browser may
# reuse one. Nothing can recall it in that time (a price or stock change shows up
# to this late there), so keep it short; 0 sends "no-cache".
GRAPHQL_CACHE_MAX_AGE = env.int("GRAPHQL_CACHE_MAX_AGE", default=30)
# A CDN in front (shop.core.cdn): cacheable anonymous GETs name the tags of what
# they contain in Surrogate-Key (Fastly, Varnish) and Cache-Tag (Cloudflare), and
# every change purges its tags there through the CDN's API, so the CDN may keep
# answers longer than GRAPHQL_CACHE_MAX_AGE (with Surrogate-Control or an edge
# TTL of its own). GRAPHQL_CACHE_PURGE: "" (off), "fastly", "cloudflare" or the
# dotted path of a class like shop.core.cdn.FastlyPurger;
# GRAPHQL_CACHE_PURGE_SERVICE is the Fastly service ID or the Cloudflare zone ID,
# GRAPHQL_CACHE_PURGE_TOKEN the API token, GRAPHQL_CACHE_PURGE_URL the API's base
# URL (empty: the CDN's own). GRAPHQL_CACHE_TAG_HEADERS sends the headers without
# a purge backend (a Varnish purged by other means); on with a backend.
GRAPHQL_CACHE_PURGE = env.str("GRAPHQL_CACHE_PURGE", default="")
GRAPHQL_CACHE_PURGE_SERVICE = env.str("GRAPHQL_CACHE_PURGE_SERVICE", default="")
GRAPHQL_CACHE_PURGE_TOKEN = env.str("GRAPHQL_CACHE_PURGE_TOKEN", default="")
GRAPHQL_CACHE_PURGE_URL = env.str("GRAPHQL_CACHE_PURGE_URL", default="")
GRAPHQL_CACHE_TAG_HEADERS = env.bool(
    "GRAPHQL_CACHE_TAG_HEADERS", default=bool(GRAPHQL_CACHE_PURGE)
)
# Product filters: attribute conditions per request (over every AND / OR / NOT
# level), values per condition, and AND / OR / NOT levels.
PRODUCT_FILTER_MAX_ATTRIBUTES = env.int("PRODUCT_FILTER_MAX_ATTRIBUTES", default=20)
PRODUCT_FILTER_MAX_VALUES = env.int("PRODUCT_FILTER_MAX_VALUES", default=100)
PRODUCT_FILTER_MAX_DEPTH = env.int("PRODUCT_FILTER_MAX_DEPTH", default=5)

STRAWBERRY_DJANGO = {
    "FIELD_DESCRIPTION_FROM_HELP_TEXT": True,
    "TYPE_DESCRIPTION_FROM_MODEL_DOCSTRING": True,
    "MAP_AUTO_ID_AS_GLOBAL_ID": True,
}

# Logs (shop/core/logs.py): one line per HTTP request (logger shop.request) with
# its request id, which every other line written meanwhile carries too; one line per
# GraphQL error (shop.graphql): INFO for client errors, ERROR with the traceback for
# unexpected ones; an outage of Redis or PostgreSQL is one line per request;
# secrets are redacted. "json" (one object per line) is the production default,
# "text" the development one.
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("DJANGO_LOG_FORMAT must be json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "shop.core.logs.RequestContextFilter"},
        "outages": {"()": "shop.core.logs.DependencyOutageFilter"},
        "quiet_security": {"()": "shop.core.logs.QuietSecurityFilter"},
        "redact": {"()": "shop.core.logs.RedactingFilter"},
    },
    "formatters": {
        "text": {"()": "shop.core.logs.TextFormatter"},
        "json": {"()": "shop.core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            # In this order: "outages" drops a traceback "redact" would render.
            "filters": ["request_context", "outages", "quiet_security", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Through the root's handler only (Django's own console handler has no
        # filters), and 4xx answers are in the request line already.
        "django": {"handlers": [], "level": "INFO"},
        "django.request": {"level": "ERROR"},
        "django.db.backends": {"level": "INFO"},
        # Replaced by shop.graphql (schema/logging.py).
        "strawberry.execution": {"level": "ERROR"},
        # uvicorn's access line has the query string (a GET request's document):
        # the request line replaces it; uvicorn's other lines go through the filters.
        # uvicorn sets its own loggers to INFO: follow DJANGO_LOG_LEVEL instead (its
        # per-socket "connection open" lines are INFO).
        "uvicorn": {
            "handlers": [],
            "propagate": True,
            "level": env.str("DJANGO_LOG_LEVEL", "INFO"),
        },
        "uvicorn.access": {"handlers": [], "propagate": False},
    },
}

# ---------------------------------------------------------------- email

# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587; unset prints emails
# to the console, which production refuses: order emails (the buyer's name and
# address) would only reach a log. consolemail:// says so on purpose (staging).
if not DEBUG and not env.str("EMAIL_URL", default=""):
    raise ImproperlyConfigured(
        "DJANGO_DEBUG is off (production) but EMAIL_URL is unset: no order email "
        "would be delivered. Set EMAIL_URL, e.g. "
        "smtp+tls://user:password@smtp.example.com:587 (or consolemail:// to "
        "print emails to the log on purpose)."
    )
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shop@example.com")
# Seconds an SMTP connection may stall before the send fails and is retried
# (Django's default waits forever).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Seconds a worker holds an order email while it sends it; if the worker dies, the
# task's redelivery sends the email once this is over. Keep it well above
# EMAIL_TIMEOUT: a send still running when its lease ends can be sent twice.
ORDER_EMAIL_LEASE_SECONDS = env.int("ORDER_EMAIL_LEASE_SECONDS", default=300)
# Confirmation and cancellation emails to one address per window (seconds); more
# are skipped (the orders are still placed), so checkout cannot mail in bulk.
ORDER_EMAILS_PER_RECIPIENT = env.int("ORDER_EMAILS_PER_RECIPIENT", default=10)
ORDER_EMAIL_RECIPIENT_WINDOW_SECONDS = env.int(
    "ORDER_EMAIL_RECIPIENT_WINDOW_SECONDS", default=3600
)

# ---------------------------------------------------------------- observability

# Prometheus metrics at /metrics (shop/core/metrics.py): HTTP requests, GraphQL
# operations and Celery task outcomes. Off: /metrics is a 404 and nothing is
# recorded. With METRICS_TOKEN set, a scrape must send "Authorization: Bearer
# <token>" (401 otherwise).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=False)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Several processes per host (gunicorn -w N): each writes its values to files in
# this directory and /metrics adds them up. prometheus_client reads it from the
# environment; empty the directory before the server starts.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

# Error reporting (shop/core/sentry.py): unexpected exceptions of the web, GraphQL
# and Celery tasks, never business errors or personal data. Off without a DSN.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str(
    "SENTRY_ENVIRONMENT", default="development" if DEBUG else "production"
)
SENTRY_RELEASE = env.str("SENTRY_RELEASE", default="")
# Share of requests and tasks traced (0 to 1); 0 sends errors only.
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
if SENTRY_DSN:
    from shop.core.sentry import init as _sentry_init

    _sentry_init(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        release=SENTRY_RELEASE,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    )
