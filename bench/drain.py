"""Drain benchmark: a buyer CRM comes back after an outage (SPEC §5).

    .venv/bin/python bench/drain.py [--leads 10000] [--workers 2]
        [--database-url postgres://postgres@127.0.0.1:5432/enersolar_drain]
        [--broker redis://127.0.0.1:6379/5]

1. Drops and re-creates the dedicated database, migrates, runs the demo seed
   with both CRMs (zr7, mdl) pointing at a local fake buyer (bench/fake_buyer.py,
   its own process), and sets the buyer DOWN (503).
2. Takes N leads through the real intake service (leads.services.lead_receive),
   with Celery eager in this process only: each committed lead is routed and
   handed to delivery exactly as a worker would do it. The first attempts fail
   (503), the CRM's circuit opens and the next leads are queued without an
   attempt; a probe every cool-down fails too, as long as the buyer is down.
3. Brings the buyer UP, starts `--workers` Celery worker processes (Redis
   broker, same database), waits for the circuit cool-down and sends one
   `process_queue` task (what beat does every minute; the bench repeats it
   every --beat seconds, 60 like beat by default). The probe succeeds, the
   circuit closes, the backlog becomes due and the queue run hands it out.
4. Waits until every lead is delivered (bounded by --timeout), stops every
   process it started, and prints the figures: leads/s drained (first to last
   successful delivery at the buyer), attempts per lead, successful deliveries
   per lead at the buyer (must be exactly 1), intake → buyer delays.

Only 127.0.0.1 is contacted. Settings given to every process (environment):
CIRCUIT_COOLDOWN_SECONDS (--cooldown, 3), DELIVERY_RETRY_DELAYS=2,4,8,16,32,
EMAIL_URL=dummymail://, LOG_LEVEL (--log-level, INFO).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def isolate_worktree() -> None:
    """Import the application from this work tree only.

    The virtualenv may hold an editable install of another checkout: its
    meta-path finder answers for any module this tree lacks (e.g. a
    `billing.services` that exists only there), which would mix two versions
    of the code. Put this tree first and drop that finder."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.meta_path[:] = [
        f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
    ]
    sys.path_importer_cache.clear()


isolate_worktree()
# A Celery worker started with the same isolation (python -c WORKER_BOOT celery args…).
WORKER_BOOT = (
    f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
    "from bench.drain import isolate_worktree; isolate_worktree(); "
    "from celery.__main__ import main; sys.argv[0] = 'celery'; main()"
)

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/enersolar_drain"
DEFAULT_BROKER = "redis://127.0.0.1:6379/5"
LOG_DIR = ROOT / "var" / "bench-drain"


# --- helpers that run before Django is set up ------------------------------------------


def database_reset(url: str) -> None:
    """DROP and CREATE the benchmark database (never one without drain/bench in its name)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not any(word in name for word in ("drain", "bench")):
        sys.exit(f"refusing to drop database {name!r}: its name must contain 'drain' or 'bench'")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def broker_reset(url: str) -> None:
    """Forget tasks a previous run left in the broker's database (kombu's keys only)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = ["celery", "unacked", "unacked_index", "unacked_mutex"]
    keys += [k.decode() for k in client.scan_iter("_kombu.binding.*", count=1000)]
    client.delete(*keys)


def broker_backlog(url: str) -> tuple[int, int]:
    """(messages waiting, messages delivered but not acknowledged)."""
    import redis

    client = redis.Redis.from_url(url)
    return client.llen("celery"), client.hlen("unacked")


def _stat_fields(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pgids: set[int]) -> float:
    """User + system CPU of the live processes in these process groups."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat_fields(entry)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[2]) in pgids:
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(name: str) -> float:
    """CPU of a server's processes (by command name), with its reaped children's
    (PostgreSQL forks a backend per connection: the postmaster adds them up)."""
    processes = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    comm = f.read().strip()
                fields = _stat_fields(entry)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if comm == name:
                processes[int(entry)] = fields
    total = 0
    for fields in processes.values():
        total += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in processes:  # the server's parent process
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


class BackendSampler:
    """CPU of the PostgreSQL backends serving one database, sampled every
    `interval` s in a thread (backends come and go: the intake's, and the
    workers' after CONN_MAX_AGE; each one's last reading counts, what it burns
    in its last interval before exiting is missed)."""

    def __init__(self, database: str, interval: float = 0.05) -> None:
        import threading

        self.tag = f" {database} ".encode()
        self.interval = interval
        self.mine: dict[int, bool] = {}
        self.cpu: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _scan(self) -> None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                if pid not in self.mine:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        line = f.read()
                    self.mine[pid] = line.startswith(b"postgres: ") and self.tag in line
                if self.mine[pid]:
                    fields = _stat_fields(pid)
                    self.cpu[pid] = int(fields[11]) + int(fields[12])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                self.mine.setdefault(pid, False)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._scan()

    def start(self) -> BackendSampler:
        self._scan()
        self.before = sum(self.cpu.values())
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(timeout=5)
        self._scan()
        return (sum(self.cpu.values()) - self.before) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy CPU seconds, all CPU seconds) of the whole machine since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK"), sum(values) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class Buyer:
    """bench/fake_buyer.py in its own process, driven over its control endpoints."""

    def __init__(self, max_seconds: float, delay_ms: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "fake_buyer.py"), "--down"]
            + ["--max-seconds", str(int(max_seconds)), "--delay-ms", str(delay_ms)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            start_new_session=True,
        )
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            sys.exit("the fake buyer did not start")
        self.url = line[1]
        import requests

        self.http = requests.Session()

    def control(self, action: str, method: str = "POST"):
        response = self.http.request(method, f"{self.url}/_control/{action}", timeout=30)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Workers:
    """`celery -A enersolar worker` processes, each in its own process group."""

    def __init__(self, *, count: int, pool: str, concurrency: int, env: dict, log_level: str):
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.logs = []
        for i in range(count):
            log = open(LOG_DIR / f"worker-{i + 1}.log", "w")  # noqa: SIM115 - closed in stop()
            self.logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER_BOOT, "-A", "enersolar", "worker"]
                    + ["--pool", pool, "--concurrency", str(concurrency)]
                    + ["--loglevel", log_level, "-n", f"drain{i + 1}@%h"]
                    + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def wait_ready(self, app, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        names = {f"drain{i + 1}@" for i in range(len(self.procs))}
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a worker exited; see {LOG_DIR}")
            replies = app.control.ping(timeout=1.0) or []
            ready = {n.split("@")[0] + "@" for reply in replies for n in reply}
            if names <= ready:
                return len(ready & names)
        raise RuntimeError(f"workers not ready after {timeout:.0f} s; see {LOG_DIR}")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)  # warm shutdown of the worker and its pool
        deadline = time.monotonic() + 20
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        for p in self.procs:  # pool children left behind by a killed parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        for log in self.logs:
            log.close()


# --- the benchmark -----------------------------------------------------------------------


def phones(count: int):
    """Distinct valid French mobile numbers (the intake would flag repeats as duplicates)."""
    from enersolar.phone import phone_normalize

    made, n = 0, 0
    while made < count:
        candidate = f"06{(12_345_678 + n * 7_919) % 100_000_000:08d}"
        n += 1
        if phone_normalize(candidate) == candidate:
            made += 1
            yield candidate


DEPARTMENTS = ["75", "69", "33", "31", "44", "59", "67", "06", "34", "35", "38", "76", "13"]


def _intake_part(count: int, part: int, parts: int, forms: dict, queue) -> None:
    """Leads part, part + parts, … of `count` through lead_receive (one process)."""
    from leads.models import Lead
    from leads.services import lead_receive

    # Half PV (1 in 13 of them in the Bouches-du-Rhône: cross-CRM to mdl), a
    # quarter PAC (zr7), a quarter ITE (mdl).
    products = ["PV", "PV", "PAC", "ITE"]
    started = time.monotonic()
    rejected = done = 0
    for i, phone in enumerate(phones(count)):
        if i % parts != part:
            continue
        product = products[i % 4]
        dept = DEPARTMENTS[(i // 4) % len(DEPARTMENTS)]
        result = lead_receive(
            data={
                "form_code": forms[product],
                "phone": phone,
                "nom": f"Bench{i}",
                "prenom": "Drain",
                "email": f"drain{i}@example.com",
                "departement": dept,
                "code_postal": f"{dept}100",
                "ville": "Ville",
            },
            ip="127.0.0.1",
        )
        rejected += result.lead.status not in (Lead.Status.QUEUED, Lead.Status.PENDING)
        done += 1
        if part == 0 and done % 1000 == 0:
            elapsed = time.monotonic() - started
            rate = done * parts / elapsed
            print(f"  intake {done * parts}/{count}  {rate:.0f} leads/s", flush=True)
    queue.put(rejected)


def intake(count: int, procs: int) -> tuple[float, dict]:
    """N leads through lead_receive in `procs` processes; (seconds, statuses after)."""
    import multiprocessing

    from django.db import connections
    from django.db.models import Count

    from demo.seed import DEMO_ACCOUNT
    from leads.models import Lead
    from tracking.models import Form

    forms = {
        f.product_type.code: f.code
        for f in Form.objects.filter(account__name=DEMO_ACCOUNT).select_related("product_type")
    }
    connections.close_all()  # each forked process opens its own
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    started = time.monotonic()
    children = [
        context.Process(target=_intake_part, args=(count, part, procs, forms, queue))
        for part in range(procs)
    ]
    for child in children:
        child.start()
    rejected: list[int] = []
    deadline = time.monotonic() + 3600
    while len(rejected) < procs and time.monotonic() < deadline:
        try:
            rejected.append(queue.get(timeout=1))
        except Empty:
            if any(child.exitcode not in (None, 0) for child in children):
                break
    for child in children:
        child.join(timeout=60)
        if child.exitcode != 0:
            raise RuntimeError(f"an intake process failed (exit {child.exitcode})")
    elapsed = time.monotonic() - started
    statuses = dict(Lead.objects.values_list("status").annotate(n=Count("pk")).order_by("status"))
    if sum(rejected):
        print(f"  warning: {sum(rejected)} lead(s) not routed for delivery")
    return elapsed, statuses


def wait_cooldown(cooldown: int, timeout: float) -> None:
    """Until every open circuit may send its probe."""
    from routing.models import CRMHealth

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        opened = CRMHealth.objects.filter(state=CRMHealth.State.OPEN).values_list(
            "opened_at", flat=True
        )
        latest = max(opened, default=None)
        if latest is None or time.time() >= latest.timestamp() + cooldown + 0.05:
            return
        time.sleep(0.1)


def drain_wait(*, count: int, broker: str, timeout: float, beat: float) -> tuple[bool, int]:
    """Poll until every lead is delivered and the broker is empty; emulate beat."""
    from leads.models import Lead
    from routing.tasks import process_queue

    deadline = time.monotonic() + timeout
    next_beat = time.monotonic() + beat
    runs = 1
    last_print = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        done = Lead.objects.filter(status=Lead.Status.SUCCESS).count()
        waiting, unacked = broker_backlog(broker)
        if now - last_print >= 2:
            print(f"  delivered {done}/{count}  broker: {waiting} waiting, {unacked} unacked")
            last_print = now
        if done >= count and waiting == 0 and unacked == 0:
            return True, runs
        if now >= next_beat:
            process_queue.apply_async()
            runs += 1
            next_beat = now + beat
        time.sleep(0.25)
    return False, runs


def report(
    *, count: int, receipts: dict, buyer_stats: dict, t_up: float, t_trigger: float, cpu: dict
):
    from django.db.models import Count

    from leads.models import Lead
    from routing.models import Delivery, DeliveryAttempt

    leads = dict(Lead.objects.values_list("pk", "created_at"))
    keys = {str(pk): created for pk, created in leads.items()}
    per_lead = [receipts.get(k, [0])[0] for k in keys]
    not_once = sum(1 for n in per_lead if n != 1)
    strangers = sum(1 for k in receipts if k not in keys)

    firsts = sorted(v[1] for k, v in receipts.items() if k in keys)
    span = (firsts[-1] - firsts[0]) if len(firsts) > 1 else 0.0
    rate = (len(firsts) - 1) / span if span > 0 else float("nan")
    e2e = [receipts[k][1] - c.timestamp() for k, c in keys.items() if k in receipts]
    after_up = [receipts[k][1] - t_up for k in keys if k in receipts]

    attempts = DeliveryAttempt.objects.count()
    outcomes = dict(
        DeliveryAttempt.objects.values_list("outcome").annotate(n=Count("pk")).order_by()
    )
    states = dict(Delivery.objects.values_list("state").annotate(n=Count("pk")).order_by())
    statuses = dict(Lead.objects.values_list("status").annotate(n=Count("pk")).order_by())
    twice_in_log = (
        DeliveryAttempt.objects.filter(outcome=DeliveryAttempt.Outcome.SUCCESS)
        .values("delivery")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )

    print()
    print("=== drain results ===")
    print(f"leads                         {count}")
    print(f"delivered (buyer, distinct)   {len(firsts)}")
    print(
        f"drain rate                    {rate:.1f} leads/s  "
        f"({len(firsts)} leads, first→last successful delivery {span:.2f} s)"
    )
    print(
        f"  trigger→last delivery       {firsts[-1] - t_trigger:.2f} s"
        if firsts
        else "  nothing delivered"
    )
    print(f"attempts per lead             {attempts / count:.3f}  ({attempts}: {outcomes})")
    print(
        f"successes per lead at buyer   min {min(per_lead)} max {max(per_lead)}  "
        f"leads with ≠ 1: {not_once}  (unknown keys: {strangers}, "
        f"503 answered while down: {buyer_stats['rejected']})"
    )
    print(f"success attempts logged twice {twice_in_log}")
    print(f"lead statuses                 {statuses}")
    print(f"delivery states               {states}")
    print(
        f"intake → buyer delay          p50 {percentile(e2e, 50):.2f} s  "
        f"p95 {percentile(e2e, 95):.2f} s  max {max(e2e, default=float('nan')):.2f} s"
    )
    print(
        f"buyer up → buyer delay        p50 {percentile(after_up, 50):.2f} s  "
        f"p95 {percentile(after_up, 95):.2f} s  max {max(after_up, default=float('nan')):.2f} s"
    )
    window = cpu.pop("window")
    machine = cpu.pop("whole machine")
    own_backends = cpu.pop("  of which this database's backends")
    others = machine - sum(cpu.values())
    print(f"CPU during the drain          machine busy {machine / window * 100:.0f} %", end="")
    print(f" of {window:.1f} core-seconds (trigger → all delivered)")
    rows = [*cpu.items(), ("rest of the machine (other users)", others)]
    rows.insert(4, ("  of which this database (sampled)", own_backends))
    for name, sec in rows:
        print(f"  {name:<36}{sec:6.1f} s  {sec / count * 1000:6.2f} ms/lead")
    return not_once == 0 and len(firsts) == count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    parser.add_argument("--concurrency", type=int, default=2, help="per worker process")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--broker", default=DEFAULT_BROKER)
    parser.add_argument("--cooldown", type=int, default=3, help="CIRCUIT_COOLDOWN_SECONDS")
    parser.add_argument("--beat", type=float, default=60.0, help="re-run process_queue every …s")
    parser.add_argument("--timeout", type=float, default=600.0, help="drain time limit (s)")
    parser.add_argument("--intake-procs", type=int, default=2, help="processes for the intake")
    parser.add_argument("--log-level", default="INFO", help="LOG_LEVEL and workers' --loglevel")
    parser.add_argument(
        "--buyer-delay-ms", type=float, default=0.0, help="the buyer answers after this delay"
    )
    args = parser.parse_args()

    env = {
        "DJANGO_SETTINGS_MODULE": "enersolar.settings",
        "DATABASE_URL": args.database_url,
        "CELERY_BROKER_URL": args.broker,
        "CIRCUIT_COOLDOWN_SECONDS": str(args.cooldown),
        "DELIVERY_RETRY_DELAYS": "2,4,8,16,32",
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": args.log_level,
    }
    os.environ.update(env)
    worker_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Intake only: each committed lead is routed and attempted in this process.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"

    started = datetime.now(UTC)
    print(f"load average before: {os.getloadavg()[0]:.2f}  ({os.cpu_count()} cores)")
    database_reset(args.database_url)
    broker_reset(args.broker)

    import django

    django.setup()
    import logging

    from django.core.management import call_command

    import routing
    from demo.seed import demo_seed
    from enersolar.celery import app
    from routing.models import CRMHealth
    from routing.tasks import process_queue

    logging.getLogger().setLevel(logging.ERROR)  # this process: no per-lead log lines
    print(f"code: {Path(routing.__file__).parent}")
    call_command("migrate", verbosity=0)

    buyer = Buyer(max_seconds=args.timeout + 3600, delay_ms=args.buyer_delay_ms)
    workers = None
    try:
        demo_seed(
            crm_urls={slug: f"{buyer.url}/{slug}/lead/api/create_lead/" for slug in ("zr7", "mdl")}
        )
        print(f"fake buyer {buyer.url}: DOWN, answers after {args.buyer_delay_ms:g} ms")
        print(f"intake of {args.leads} leads (lead_receive, routing and first attempt inline)")
        seconds, statuses = intake(args.leads, args.intake_procs)
        print(f"  {seconds:.1f} s, {args.leads / seconds:.0f} leads/s; statuses: {statuses}")
        circuits = dict(CRMHealth.objects.values_list("crm__slug", "state"))
        print(f"  circuits: {circuits}; buyer: {buyer.control('stats', 'GET')['rejected']} × 503")

        app.conf.task_always_eager = False
        buyer.control("up")
        t_up = time.time()
        print(f"fake buyer UP; starting {args.workers} worker(s): --pool {args.pool} ")
        print(f"  --concurrency {args.concurrency} each, logs in {LOG_DIR}")
        workers = Workers(
            count=args.workers,
            pool=args.pool,
            concurrency=args.concurrency,
            env=worker_env,
            log_level=args.log_level,
        )
        workers.wait_ready(app, timeout=60)
        print(f"  workers ready after {time.time() - t_up:.1f} s")
        wait_cooldown(args.cooldown, timeout=args.cooldown + 5)
        groups = {p.pid for p in workers.procs}
        cpu_before = (
            cpu_seconds(groups),
            cpu_seconds({buyer.proc.pid}),
            time.process_time(),
            server_cpu_seconds("postgres"),
            server_cpu_seconds("redis-server"),
        )
        busy_before = machine_busy()
        sampler = BackendSampler(urlsplit(args.database_url).path.lstrip("/")).start()
        process_queue.apply_async()
        t_trigger = time.time()
        print(f"process_queue sent at +{t_trigger - t_up:.1f} s after buyer up")
        done, runs = drain_wait(
            count=args.leads, broker=args.broker, timeout=args.timeout, beat=args.beat
        )
        busy_after = machine_busy()
        own_backends = sampler.stop()
        cpu_after = (
            cpu_seconds(groups),
            cpu_seconds({buyer.proc.pid}),
            time.process_time(),
            server_cpu_seconds("postgres"),
            server_cpu_seconds("redis-server"),
        )
        cpu = {
            name: after - before
            for name, before, after in zip(
                ("celery workers", "fake buyer", "bench process", "PostgreSQL (all)", "Redis"),
                cpu_before,
                cpu_after,
                strict=True,
            )
        }
        cpu["  of which this database's backends"] = own_backends
        cpu["whole machine"] = busy_after[0] - busy_before[0]
        cpu["window"] = busy_after[1] - busy_before[1]  # all cores
        print(
            f"{'all delivered' if done else 'TIMEOUT'} at +{time.time() - t_trigger:.1f} s "
            f"after the trigger; process_queue sent {runs} time(s)"
        )
    finally:
        if workers is not None:
            workers.stop()
        try:
            receipts = buyer.control("receipts", "GET")
            buyer_stats = buyer.control("stats", "GET")
        finally:
            buyer.stop()
    ok = report(
        count=args.leads,
        receipts=receipts,
        buyer_stats=buyer_stats,
        t_up=t_up,
        t_trigger=t_trigger,
        cpu=cpu,
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}; started {started:%Y-%m-%d %H:%M} UTC")
    return 0 if ok and done else 1


if __name__ == "__main__":
    sys.exit(main())
