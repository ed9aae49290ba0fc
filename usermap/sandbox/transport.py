"""The sandbox's HTTP side: a threading server on loopback that remembers its open connections
(so ``SandboxServer.stop`` can cut idle keep-alive ones) and a handler that hands every GET, and
every POST with its body read, to the app (``SandboxServer._handle``) and refuses other methods
with HubSpot's error JSON.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__: list[str] = []

MAX_BODY = 4 * 1024 * 1024      # bytes of a POST body the sandbox reads; more is a 413


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64

    def __init__(self, addr, handler, app):
        self.app = app
        self._conns: set = set()
        self._conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        with self._conns_lock:
            self._conns.add(sock)
        return sock, addr

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, like the real APIs
    server_version = "usermap-sandbox"
    sys_version = ""
    timeout = 30                       # an idle keep-alive connection ends after this
    disable_nagle_algorithm = True     # headers and body go out at once, no 40 ms stalls

    body = b""                         # a POST's body, read before any answer
    arrived = 0.0                      # when its request line was read (time.monotonic)

    def parse_request(self):
        # the rate windows count arrivals: stamped as the request comes in, before its headers
        # and body are read and before it waits for the interpreter behind other requests
        self.arrived = time.monotonic()
        return super().parse_request()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        try:
            self.server.app._handle(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def do_POST(self):  # noqa: N802 - the CRM objects' search and batch endpoints
        try:               # a chunked body (no length) is refused, not read as empty
            n = int(self.headers.get("Content-Length") or
                    (-1 if "chunked" in self.headers.get("Transfer-Encoding", "") else 0))
        except ValueError:
            n = -1
        if not 0 <= n <= MAX_BODY:
            self.close_connection = True
            return self.refuse_method("GET", 413 if n > MAX_BODY else 411)
        try:
            self.body = self.rfile.read(n)
            self.server.app._handle(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def refuse_method(self, allow: str = "GET", status: int = 405):
        """HubSpot's error JSON for a method the path does not take (or a body refused)."""
        message = {405: "Method not allowed", 411: "Length required",
                   413: "Request body too large"}[status]
        self.server.app._send(self, status, {"status": "error", "message": message,
                                             "correlationId": str(uuid.uuid4()),
                                             "category": "VALIDATION_ERROR"},
                              headers={"Allow": allow})

    do_PUT = do_PATCH = do_DELETE = refuse_method  # noqa: N815

    def log_message(self, fmt, *args):
        self.server.app._log(fmt % args, every=True)

    def log_error(self, fmt, *args):
        self.server.app._log(fmt % args, every=True)
