"""An HTTP server on the host address real pods reach, serving a directory of archives.

The stdlib's `http.server` in a thread: pods' `ferry-fetch` downloads from it, and it keeps
the paths it was asked for, so a test can tell that a pod really fetched an artifact.
"""

import functools
import http.server
import threading
from pathlib import Path
from typing import Any


class ArtifactServer:
    def __init__(self, host: str, directory: Path) -> None:
        self.directory = directory
        self.requested: list[str] = []  # "GET /1.0.0/podnet.mar 200", in order
        served = self.requested

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                served.append(f"{self.command} {self.path} {code}")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # errors are in `requested` as their status; keep the test output clean

        handler = functools.partial(Handler, directory=str(directory))
        self._server = http.server.ThreadingHTTPServer((host, 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="artifact-server", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fetched(self, path: str) -> int:
        """How many times `path` (e.g. /1.0.0/podnet.mar) was served whole (200)."""
        return self.requested.count(f"GET {path} 200")

    def __enter__(self) -> "ArtifactServer":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
