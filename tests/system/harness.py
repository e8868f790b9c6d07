"""The product as deployed, for the system tests: a database of its own, a
broker, and the Procfile's processes (gunicorn, celery worker, celery beat)
started from the Procfile's own lines as separate OS processes.

The tests watch from outside only: HTTP answers, what the fake buyer
received, rows read over a plain database connection. Timings are shortened
through the documented settings (BEAT_*, DELIVERY_*, CIRCUIT_*, CRM_*),
never by calling product code.

Two deployments, as in production and in the demo:
- PostgreSQL (the test pass's server, a database of our own) + a Redis
  server of our own (so that a test may stop and restart it), `Procfile`;
- SQLite + kombu's file-system broker in a temporary folder, `Procfile.demo`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import environ
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv's bin: gunicorn, celery

# The shortened timings, all documented settings (README, "Configuration").
TIMINGS = {
    "BEAT_PROCESS_DELIVERY_QUEUE": "2",
    "BEAT_NIGHTLY_VERIFICATION": "10",
    "BEAT_CHECK_PREPAID_BUDGETS": "10",
    "BEAT_ISSUE_MONTHLY_STATEMENTS": "10",
    "BEAT_REFRESH_LEAD_DAY_COUNTS": "10",
    "DELIVERY_RETRY_DELAYS": "2,2,3,3,4",
    "DELIVERY_RETRY_JITTER": "0",
    "CIRCUIT_COOLDOWN_SECONDS": "2",
    "CRM_CONNECT_TIMEOUT": "1",
    "CRM_READ_TIMEOUT": "2",
    "DELIVERY_LEASE_SECONDS": "8",
    "DELIVERY_STUCK_SECONDS": "3",
    "CONFIG_CACHE_SECONDS": "1",
    # One test client sends hundreds of leads from one address.
    "RATE_LIMIT_LEADS": "100000/min",
    "RATE_LIMIT_TRACKING": "100000/min",
    "RATE_LIMIT_PARTNER": "100000/min",
    "WORKER_HEARTBEAT_SECONDS": "2",
    "METRICS_TOKEN": "system-tests-metrics-token",
    "WEB_CONCURRENCY": "2",
    "WORKER_CONCURRENCY": "4",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    condition: Callable[[], object], *, timeout: float, what: str, every: float = 0.2
) -> object:
    """Poll until `condition()` is truthy; its value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(every)


class RedisServer:
    """A redis-server of our own on a free port: stopping it stops no one else."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = folder / "redis.log"
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=self._log.open("a"),
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, timeout=10, what="redis-server answers")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def _answers(self) -> bool:
        with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False


class Database:
    """Reads (and test arrangements) over a plain connection, no Django."""

    def __init__(self, url: str):
        self.config = environ.Env.db_url_config(url)
        self.url = url
        self.is_sqlite = "sqlite" in self.config["ENGINE"]

    def _connect(self):
        if self.is_sqlite:
            return sqlite3.connect(self.config["NAME"], timeout=30, isolation_level=None)
        import psycopg

        return psycopg.connect(self._conninfo(self.config["NAME"]), autocommit=True)

    def _conninfo(self, dbname: str) -> str:
        c = self.config
        parts = {
            "host": c.get("HOST") or "127.0.0.1",
            "port": c.get("PORT") or 5432,
            "user": c.get("USER") or "postgres",
            "password": c.get("PASSWORD") or "",
            "dbname": dbname,
        }
        return " ".join(f"{k}={v}" for k, v in parts.items() if v != "")

    def create(self) -> None:
        """A new, empty database (dropped first if an earlier run left one)."""
        if self.is_sqlite:
            Path(self.config["NAME"]).unlink(missing_ok=True)
            return
        import psycopg

        name = self.config["NAME"]
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')

    def drop(self) -> None:
        if self.is_sqlite:
            return
        import psycopg

        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.config["NAME"]}" WITH (FORCE)')

    def rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        """`sql` with %s placeholders, on either engine."""
        if self.is_sqlite:
            sql = sql.replace("%s", "?")
        conn = self._connect()
        try:
            cursor = conn.execute(sql, tuple(params))
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            conn.close()

    def uuid_param(self, value: str):
        """A UUID as the column stores it: 32 hex digits on SQLite."""
        return uuid.UUID(str(value)).hex if self.is_sqlite else str(value)

    def datetime_param(self, value: datetime):
        """An aware datetime as the column stores it: naive UTC text on SQLite."""
        if self.is_sqlite:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
        return value

    def in_clause(self, ids) -> tuple[str, list]:
        values = [self.uuid_param(i) for i in ids]
        return "(" + ",".join(["%s"] * len(values)) + ")", values


class Stack:
    """One deployment: `start()` runs migrate and seed_demo, then the
    Procfile's processes; `process(...)` starts, stops or kills one."""

    def __init__(self, folder: Path, *, database_url: str, redis: RedisServer | None, buyer):
        self.folder = folder
        self.redis = redis
        self.buyer = buyer
        self.db = Database(database_url)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.procfile = ROOT / ("Procfile" if redis else "Procfile.demo")
        self.commands = self._procfile_commands()
        self.processes: dict[str, subprocess.Popen] = {}
        self.partner_key = ""

    def _procfile_commands(self) -> dict[str, str]:
        commands = {}
        for line in self.procfile.read_text().splitlines():
            match = re.match(r"^(\w+):\s*(.+)$", line)
            if match:
                commands[match[1]] = match[2]
        return commands

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_ENV"}
        }
        env.update(TIMINGS)
        env.update(
            PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            DATABASE_URL=self.db.url,
            ENERSOLAR_VAR_DIR=str(self.folder / "var"),
            PORT=str(self.port),
            ENERSOLAR_PORT=str(self.port),
            PUBLIC_BASE_URL=self.base_url,
            SECRET_KEY="system-tests-only",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        if self.redis:
            env["REDIS_URL"] = self.redis.url
        return env

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self) -> None:
        self.db.create()
        self.manage("migrate", "--noinput")
        seeded = self.manage(
            "seed_demo",
            "--crm-url-zr7",
            self.buyer.url("zr7"),
            "--crm-url-mdl",
            self.buyer.url("mdl"),
        )
        self.partner_key = re.search(r"Partner API key \(shown once\): (\S+)", seeded)[1]
        for name in ("web", "worker", "beat"):
            self.process_start(name)
        wait_for(self._web_answers, timeout=60, what="gunicorn answers")
        self.wait_log("worker", "ready.")
        self.wait_log("beat", "beat: Starting")

    def stop(self) -> None:
        for name in list(self.processes):
            self.process_stop(name)

    # -- processes -----------------------------------------------------------------
    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def process_start(self, name: str, *, command: str | None = None) -> None:
        """`name` is a Procfile entry, or a second copy of one (`worker2`, a
        worker scaled out) started with that entry's command."""
        line = command or self.commands[re.sub(r"\d+$", "", name)]
        self.processes[name] = subprocess.Popen(
            ["bash", "-c", f"exec {line}"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log(name).open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a kill reaches its children
        )

    def process_stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process_kill(name, process)

    def process_kill(self, name: str, process: subprocess.Popen | None = None) -> None:
        """SIGKILL: no shutdown handler runs, nothing is acknowledged."""
        process = process or self.processes.pop(name)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def wait_log(self, name: str, text: str, *, timeout: float = 60, after: int = 0) -> None:
        wait_for(
            lambda: text in self.log(name).read_text(errors="replace")[after:],
            timeout=timeout,
            what=f"{name} logs {text!r}",
        )

    def log_size(self, name: str) -> int:
        return len(self.log(name).read_text(errors="replace"))

    def _web_answers(self) -> bool:
        with suppress(requests.RequestException):
            return requests.get(f"{self.base_url}/api/forms/config/departements", timeout=2).ok
        return False

    def tail(self, lines: int = 40) -> str:
        """The end of every process's log, for a failing test's report."""
        out = []
        for log in sorted(self.folder.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)


def redis_available() -> bool:
    return shutil.which("redis-server") is not None
