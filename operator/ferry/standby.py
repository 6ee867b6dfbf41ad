"""What a standby replica serves while it waits for the lease: liveness, nothing else.

kopf serves /healthz only once it runs, and a standby must not run it (it would write);
this answers the chart's liveness probe on the same port until the replica leads.
"""

import contextlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path.split("?")[0] == "/healthz"
        body = b'{"standby": true}' if ok else b""
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:  # probes every few seconds are not news
        return


@contextlib.contextmanager
def standby_health(port: int) -> Iterator[None]:
    """Answer /healthz on `port` until the block ends (then kopf can bind it)."""
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), _Healthz)  # noqa: S104
    thread = threading.Thread(target=server.serve_forever, name="standby-health", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
