"""A fast local fake buyer CRM for load tests (pure standard library).

It answers every POST (any path but /_control/…) with 201 while up and 503
while down, counts the successful deliveries per `Idempotency-Key` and
records when each arrived. HTTP/1.1 with keep-alive and TCP_NODELAY, one
thread per connection: the delivery workers keep one connection each.

In a thread of the calling process::

    buyer = FakeBuyer().start()      # 127.0.0.1, a free port
    buyer.set_down(True)             # 503 from now on
    ...; buyer.receipts(); buyer.stop()

As its own process (its own GIL, what bench/drain.py does)::

    python bench/fake_buyer.py [--port 0] [--down] [--max-seconds 3600]

prints `listening http://127.0.0.1:PORT` and is controlled over HTTP:
`POST /_control/down`, `POST /_control/up`, `POST /_control/reset`,
`GET /_control/stats` (totals), `GET /_control/receipts` (per key:
successes, first and last receive time, Unix seconds). It stops by itself
after --max-seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"


class BuyerState:
    """What the buyer saw; shared by the handler threads."""

    def __init__(self, *, down: bool = False, delay: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.down = down
        self.delay = delay  # seconds before answering, to mimic a remote CRM
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.rejected = 0  # 503 answers while down
            self.no_key = 0  # successful POSTs without Idempotency-Key
            # key -> [successes, first receive, last receive, path]
            self.ok: dict[str, list] = {}

    def record(self, key: str | None, path: str) -> bool:
        """One POST; True when it is answered 201."""
        now = time.time()
        with self.lock:
            self.requests += 1
            if self.down:
                self.rejected += 1
                return False
            if not key:
                self.no_key += 1
                return True
            entry = self.ok.get(key)
            if entry is None:
                self.ok[key] = [1, now, now, path]
            else:
                entry[0] += 1
                entry[2] = now
            return True

    def stats(self) -> dict:
        with self.lock:
            counts = [e[0] for e in self.ok.values()]
            firsts = [e[1] for e in self.ok.values()]
            lasts = [e[2] for e in self.ok.values()]
            return {
                "down": self.down,
                "requests": self.requests,
                "rejected": self.rejected,
                "successes": sum(counts) + self.no_key,
                "keys": len(counts),
                "keys_more_than_once": sum(1 for c in counts if c > 1),
                "no_key": self.no_key,
                "first_ok": min(firsts) if firsts else None,
                "last_ok": max(lasts) if lasts else None,
            }

    def receipts(self) -> dict[str, list]:
        with self.lock:
            return {k: list(v) for k, v in self.ok.items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    disable_nagle_algorithm = True  # headers and body go out without a 40 ms stall
    server_version = "FakeBuyer/1"
    state: BuyerState  # set on the subclass made by make_server

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _control(self) -> bool:
        path = self.path.split("?", 1)[0]
        if not path.startswith("/_control/"):
            return False
        action = path.removeprefix("/_control/").strip("/")
        if action == "down":
            self.state.down = True
        elif action == "up":
            self.state.down = False
        elif action == "reset":
            self.state.reset()
        elif action == "receipts":
            self._send(200, self.state.receipts())
            return True
        elif action != "stats":
            self._send(404, {"error": "unknown control"})
            return True
        self._send(200, self.state.stats())
        return True

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if not self._control():
            self._send(404, {"error": "POST leads here"})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # the payload; only its arrival matters here
        if self._control():
            return
        if self.state.delay:
            time.sleep(self.state.delay)
        if self.state.record(self.headers.get("Idempotency-Key"), self.path):
            self._send(201, {"status": "created", "id": self.headers.get("Idempotency-Key")})
        else:
            self._send(503, {"error": "buyer down"})

    def log_message(self, format, *args) -> None:  # noqa: A002 - silence per-request logs
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def make_server(state: BuyerState, port: int = 0) -> _Server:
    handler = type("Handler", (_Handler,), {"state": state})
    return _Server((HOST, port), handler)


class FakeBuyer:
    """The buyer in a background thread of this process."""

    def __init__(self, *, port: int = 0, down: bool = False, delay: float = 0.0) -> None:
        self.state = BuyerState(down=down, delay=delay)
        self.server = make_server(self.state, port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}"

    def start(self) -> FakeBuyer:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()
        return self

    def set_down(self, down: bool) -> None:
        self.state.down = down

    def stats(self) -> dict:
        return self.state.stats()

    def receipts(self) -> dict[str, list]:
        return self.state.receipts()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--down", action="store_true", help="start down (503)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="answer after this delay")
    parser.add_argument(
        "--max-seconds", type=float, default=3600.0, help="stop by itself after this long"
    )
    args = parser.parse_args(argv)
    buyer = FakeBuyer(port=args.port, down=args.down, delay=args.delay_ms / 1000).start()
    print(f"listening {buyer.url}", flush=True)
    try:
        if buyer._thread is not None:
            buyer._thread.join(timeout=args.max_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        buyer.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
