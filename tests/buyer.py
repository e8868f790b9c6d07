"""A real buyer CRM for tests: an HTTP server on 127.0.0.1 that speaks the
ZR7/MDL protocol (`POST …/lead/api/create_lead/`, JSON body, `Authorization:
<key>` header) and answers what the test tells it to.

    buyer.answer(201)                          # from now on, every request
    buyer.answer(500, times=3)                 # the next 3 requests, then the default
    buyer.answer(429, headers={"Retry-After": "120"}, times=1)
    buyer.answer(hang=True, times=1)           # never answers within the client's timeout
    buyer.answer(403, slug="mdl")              # only for /mdl/… (falls back to the global script)
    buyer.doublon_on_repeat()                  # a key it took already: 200 "doublon"

Every request is recorded (method, path, headers, JSON body, Idempotency-Key,
and the status it was answered with) before the answer goes out, under a lock:
deliveries may come from several threads at once.

A refused connection needs no server: `refused_url()` is a port where nothing
listens.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from requests.structures import CaseInsensitiveDict

CREATE_LEAD_PATH = "/lead/api/create_lead/"
# How long a "hang" lasts at most; the server's stop cuts it short.
HANG_SECONDS = 30.0

DEFAULT_BODIES = {
    200: {"success": False, "message": "doublon"},
    201: {"success": True, "message": "Lead created", "id": "buyer-1"},
    400: {"success": False, "message": "Invalid payload"},
    403: {"success": False, "message": "Invalid API key"},
    429: {"success": False, "message": "Too many requests"},
    500: {"success": False, "message": "Internal error"},
}


@dataclass(frozen=True)
class Answer:
    status: int = 201
    body: str | dict | None = None  # None: a sensible body for the status
    headers: dict = field(default_factory=dict)
    hang: bool = False  # never answer (the client's read timeout fires)
    delay: float = 0.0  # answer after this many seconds (a slow but working buyer)

    def encoded_body(self) -> bytes:
        body = self.body if self.body is not None else DEFAULT_BODIES.get(self.status, {})
        return (body if isinstance(body, str) else json.dumps(body)).encode()


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: CaseInsensitiveDict
    raw_body: bytes
    json: dict | list | None
    client_port: int = 0  # the same port twice: one keep-alive connection
    answered: int | None = None  # the status sent back (None: hung, or the client was gone)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")

    @property
    def slug(self) -> str:
        return self.path.strip("/").split("/", 1)[0]


def _slug_of(path: str) -> str:
    return path.strip("/").split("/", 1)[0]


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: the client's keep-alive session reuses connections, as with a
    # real buyer. Idle connections are closed after a few seconds.
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - silence stderr access logs
        pass

    def setup(self):
        super().setup()
        self.server.buyer._track(self.connection, open_=True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.buyer._track(self.connection, open_=False)

    def do_POST(self):
        self._serve()

    def do_GET(self):
        self._serve()

    def _serve(self):
        buyer: FakeBuyer = self.server.buyer
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        record = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers=CaseInsensitiveDict(self.headers.items()),
            raw_body=raw,
            json=parsed,
            client_port=self.client_address[1],
        )
        answer = buyer._record_and_pick(record)
        if answer.hang:
            # Never answer: wait until the client gave up (or the server
            # stops), then drop the connection.
            buyer._stopping.wait(HANG_SECONDS)
            self.close_connection = True
            return
        if answer.delay:
            buyer._stopping.wait(answer.delay)
        payload = answer.encoded_body()
        # Written down before the answer leaves, so that a client that has it
        # always finds it recorded.
        with buyer._lock:
            record.answered = answer.status
        try:
            self.send_response(answer.status)
            content_type = "text/html" if isinstance(answer.body, str) else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            with buyer._lock:
                record.answered = None  # the client was gone


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    buyer: FakeBuyer


class FakeBuyer:
    def __init__(self, port: int = 0):
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[ReceivedRequest] = []
        self._default: dict[str | None, Answer] = {None: Answer(201)}
        self._script: dict[str | None, deque[Answer]] = {}
        self._connections: set[socket.socket] = set()
        self._doublon_on_repeat = False
        self._listen(port)

    def _listen(self, port: int) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.buyer = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- life cycle -------------------------------------------------------------
    def start(self) -> FakeBuyer:
        self._thread.start()
        return self

    def go_down(self) -> None:
        """The buyer's server goes away: connections to its port are refused
        until `come_back()`. What it received so far is kept."""
        port = self.port
        self.stop()
        self._down_port = port

    def come_back(self) -> None:
        """Listen again on the same port (the CRM's URL is unchanged)."""
        self._stopping.clear()
        self._listen(self._down_port)
        self.start()

    def stop(self) -> None:
        self._stopping.set()  # wake hung handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        # Keep-alive connections the client left open would hold a handler
        # thread each until its idle timeout: close them now.
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _track(self, connection, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, slug: str = "zr7") -> str:
        return f"http://127.0.0.1:{self.port}/{slug}{CREATE_LEAD_PATH}"

    # -- scripting ----------------------------------------------------------------
    def answer(
        self,
        status: int = 201,
        body: str | dict | None = None,
        *,
        headers: dict | None = None,
        hang: bool = False,
        delay: float = 0.0,
        times: int | None = None,
        slug: str | None = None,
    ) -> None:
        """Without `times`: the default answer from now on. With `times`: queue
        that answer for the next `times` requests (after what is already queued)."""
        answer = Answer(status, body, dict(headers or {}), hang, delay)
        with self._lock:
            if times is None:
                self._default[slug] = answer
            else:
                self._script.setdefault(slug, deque()).extend([answer] * times)

    def script(self, *answers: Answer, slug: str | None = None) -> None:
        """Queue several answers, consumed in order, then the default."""
        with self._lock:
            self._script.setdefault(slug, deque()).extend(answers)

    def doublon_on_repeat(self) -> None:
        """From now on, a request whose Idempotency-Key was already answered
        201 is answered 200 "doublon" (before any scripted answer), the way a
        real buyer drops a repeat."""
        with self._lock:
            self._doublon_on_repeat = True

    def _record_and_pick(self, record: ReceivedRequest) -> Answer:
        slug = _slug_of(record.path)
        with self._lock:
            if self._doublon_on_repeat and any(
                r.idempotency_key == record.idempotency_key and r.answered == 201
                for r in self._requests
            ):
                self._requests.append(record)
                return Answer(200)
            self._requests.append(record)
            for key in (slug, None):
                queued = self._script.get(key)
                if queued:
                    return queued.popleft()
            return self._default.get(slug) or self._default[None]

    # -- what was received -------------------------------------------------------------
    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, slug: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.slug == slug]

    def count_by_idempotency_key(self, *, answered: int | None = None) -> Counter:
        """Requests per Idempotency-Key; with `answered`, only those answered
        with that status (201: the leads the buyer actually took)."""
        return Counter(
            r.idempotency_key for r in self.requests if answered is None or r.answered == answered
        )

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._script.clear()
            self._default = {None: Answer(201)}
            self._doublon_on_repeat = False


def refused_url(slug: str = "zr7") -> str:
    """A URL on a port where nothing listens: the connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{slug}{CREATE_LEAD_PATH}"


@contextmanager
def running_buyer() -> Iterator[FakeBuyer]:
    server = FakeBuyer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def buyer() -> Iterator[FakeBuyer]:
    """A running fake buyer, stopped after the test."""
    with running_buyer() as server:
        yield server
