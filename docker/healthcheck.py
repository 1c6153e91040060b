"""The web container's health check: GET /healthz/ answers 200.

Docker runs it inside the container (the image's HEALTHCHECK, the web service's
healthcheck in compose.yaml): ``python /app/docker/healthcheck.py [URL]``, exit
status 0 when healthy. Django answers 400 to a Host header outside
DJANGO_ALLOWED_HOSTS, so the request names the first allowed host. A redirect
(to https, say) is not followed: it counts as unhealthy.
"""

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz/"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def probe_host() -> str:
    """A Host header Django accepts: the first DJANGO_ALLOWED_HOSTS entry that
    names a host ("*" names none; ".example.com" allows example.com)."""
    allowed = os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",")
    for entry in (entry.strip() for entry in allowed):
        if entry and entry != "*":
            return entry.lstrip(".")
    return "localhost"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    request = urllib.request.Request(url, headers={"Host": probe_host()})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=4) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        print(f"unhealthy: {url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"unhealthy: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
