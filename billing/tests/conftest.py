"""Billing test fixtures: a real buyer CRM on 127.0.0.1 and staff clients."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rest_framework.test import APIClient

from enersolar.roles import ADMIN, EDITOR, VIEWER
from enersolar.tests.factories import UserFactory


class _BuyerHandler(BaseHTTPRequestHandler):
    """Answers every POST with the server's current status code."""

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server: BuyerCRM = self.server.buyer
        with server.lock:
            server.received.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "payload": json.loads(body or b"{}"),
                }
            )
            status = server.status
        answer = json.dumps({"status": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass


class BuyerCRM:
    """A minimal buyer CRM: a ThreadingHTTPServer on an ephemeral port of
    127.0.0.1, answering `status` (201 unless a test changes it) and keeping
    what it received."""

    def __init__(self):
        self.status = 201
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _BuyerHandler)
        self._server.daemon_threads = True
        self._server.buyer = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, slug: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{slug}/lead/api/create_lead/"

    def start(self) -> "BuyerCRM":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def buyer_server():
    server = BuyerCRM().start()
    yield server
    server.stop()


def _staff_client(role: str, username: str) -> APIClient:
    client = APIClient()
    client.force_login(UserFactory(username=username, role=role))
    return client


@pytest.fixture
def admin_user(db):
    return UserFactory(username="billing-admin", role=ADMIN, email="admin@example.com")


@pytest.fixture
def admin_client(admin_user):
    client = APIClient()
    client.force_login(admin_user)
    return client


@pytest.fixture
def editor_client(db):
    return _staff_client(EDITOR, "billing-editor")


@pytest.fixture
def viewer_client(db):
    return _staff_client(VIEWER, "billing-viewer")
