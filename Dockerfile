# syntax=docker/dockerfile:1

# One image for every process of the shop: the web server (the default command),
# the Celery worker, Celery beat and the one-shot migrations; compose.yaml gives
# each service its command. Python 3.11, as the test suite runs.
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- builder
# The locked dependencies (uv.lock, without the dev group) in /app/.venv. Only
# PyPI is reached: uv comes from PyPI through pip and takes the lock's files.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app
COPY pyproject.toml uv.lock ./
# --frozen: install exactly what uv.lock says, without resolving anything again.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_STATIC_ROOT=/app/static \
    WEB_CONCURRENCY=2

# The processes run as an unprivileged user that owns nothing in /app.
RUN groupadd --system --gid 10001 shop \
    && useradd --system --uid 10001 --gid shop --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin shop

WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
COPY manage.py ./
COPY shop/ shop/
COPY schema/ schema/
COPY workers/ workers/
COPY docker/ docker/

# Static files are part of the image. collectstatic runs in the embedded mode (no
# DATABASE_URL, no REDIS_URL), which needs no service and no secret; it leaves an
# empty var/ behind (the embedded SQLite folder), removed here. media/ is where
# product images live on the file system (compose mounts the media-data volume
# there; a new named volume takes this folder's owner, the app user).
RUN python manage.py collectstatic --noinput \
    && python -m compileall -q shop schema workers \
    && rm -rf var \
    && mkdir media && chown 10001:10001 media

# Numeric, so that a platform can see it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]

# gunicorn with the shop's uvicorn worker (shop.serve: the server never rewrites
# the client address from proxy headers), WEB_CONCURRENCY processes, HTTP and
# WebSocket on port 8000. No control socket: nothing in the container uses it.
CMD ["sh", "-c", "exec gunicorn shop.asgi:application -k shop.serve.UvicornWorker --bind 0.0.0.0:8000 --workers \"${WEB_CONCURRENCY:-2}\" --no-control-socket"]
