"""The container's health check: `python -m bots.ops.probe` exits 0 when this machine's
`icx serve` answers GET /healthz, 1 otherwise. Standard library only and nothing else of icx
is imported, so it starts in milliseconds; slim images have no curl or wget.

It asks the port `icx serve` listens on (PORT, default 3000) on HOST, or on 127.0.0.1 when HOST
is a wildcard address."""

import json
import os
import sys
import urllib.request

WILDCARDS = {"", "0.0.0.0", "::", "[::]"}
TIMEOUT = 4.0  # seconds; below the Dockerfile's HEALTHCHECK --timeout


def healthz_url(environ: dict[str, str]) -> str:
    host = environ.get("HOST", "").strip()
    host = "127.0.0.1" if host in WILDCARDS else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    port = environ.get("PORT", "").strip() or "3000"
    return f"http://{host}:{port}/healthz"


def healthy(url: str) -> bool:
    # No proxy: the server is on this machine, whatever HTTP_PROXY says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT) as response:
            return response.status == 200 and json.load(response).get("status") == "ok"
    except (OSError, ValueError):
        return False


def main() -> None:
    url = healthz_url(dict(os.environ))
    if healthy(url):
        sys.exit(0)
    print(f"icx health check: no healthy answer from {url}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main()
