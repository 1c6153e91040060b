"""Process probes for load balancers and orchestrators."""

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and serving requests."""
    return JsonResponse({"status": "ok"})


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _redis_answers() -> bool:
    try:
        return bool(cache.client.get_client(write=True).ping())
    except Exception:
        return False


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """The database and Redis answer; 503 naming those that do not."""
    checks = {"database": _database_answers(), "redis": _redis_answers()}
    failing = [name for name, ok in checks.items() if not ok]
    return JsonResponse(
        {
            "status": "unavailable" if failing else "ok",
            "checks": {name: "ok" if ok else "down" for name, ok in checks.items()},
            "failing": failing,
        },
        status=503 if failing else 200,
    )
