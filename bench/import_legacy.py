"""Benchmark of the legacy import: a 1,000,000-lead mongoexport dump (JSON
lines, Extended JSON) imported into a dedicated PostgreSQL database.

    python bench/import_legacy.py [--leads 1000000] \
        [--database-url postgres://postgres@127.0.0.1:5432/legacy_bench] [--rerun]

The dump is streamed to a temporary directory (never held in memory), the
database (its name must contain "bench") is dropped, created and migrated,
then `manage.py import_legacy` runs in a child process so its peak
memory (ru_maxrss) is the import's alone. Prints rows/s and peak memory.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _database(url: str) -> None:
    """Drop and create the benchmark database: an import into tables full of
    a previous run's deleted rows (a rollback of a million) measures their
    bloat, not the import. A cut-over imports into a fresh database too."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _write_dump(directory: Path, leads: int) -> float:
    """Configuration collections from the test dump, then `leads` lead lines."""
    from legacy.tests.dump import BASE_TIME, LeadDocMaker, write_dump

    started = time.monotonic()
    dump = write_dump(directory, leads=0)
    for name in ("visitor_sessions", "tracking", "lead_queue", "audit_log"):
        (directory / f"{name}.json").unlink(missing_ok=True)
    maker = LeadDocMaker(seed=11)
    statuses = ["success"] * 6 + ["duplicate", "failed", "invalid_phone", "sent"]
    forms = [{**f, "_lp_code": lp["code"]} for f, lp in zip(dump.forms, dump.lps, strict=True)]
    with (directory / "leads.json").open("w", buffering=1 << 20) as handle:
        for n in range(leads):
            doc = maker.make(
                form=forms[n % 3],
                session_id=None,
                created_at=BASE_TIME + timedelta(seconds=n * 37),
                status=statuses[n % len(statuses)],
            )
            handle.write(json.dumps(doc) + "\n")
    return time.monotonic() - started


class _BackendCPU:
    """CPU time of the PostgreSQL server processes serving the benchmark's
    database, read from /proc every second while the import runs (the server
    on this host; None when it is elsewhere): the other half of the import's
    work, which its own CPU time does not show."""

    def __init__(self, url: str):
        import threading

        self.url, self.seen = url, {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> float | None:
        self.done.set()
        self.thread.join()
        return sum(self.seen.values()) if self.seen else None

    def _poll(self) -> None:
        import psycopg

        name = self.url.rsplit("/", 1)[1]
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            while not self.done.wait(1.0):
                pids = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", [name]
                ).fetchall()
                for (pid,) in pids:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    # utime and stime: fields 14 and 15 of stat, 12 and 13 after the name.
                    self.seen[pid] = (int(fields[11]) + int(fields[12])) / self.tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/legacy_bench")
    parser.add_argument("--rerun", action="store_true", help="also time an idempotent re-run")
    args = parser.parse_args()
    if "bench" not in args.database_url.rsplit("/", 1)[1]:
        parser.error("the database's name must contain 'bench': it is dropped and recreated")

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "DJANGO_SETTINGS_MODULE": "enersolar.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    _database(args.database_url)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], check=True, env=env)

    import django

    django.setup()
    with tempfile.TemporaryDirectory(prefix="legacy-bench-") as tmp:
        directory = Path(tmp)
        generated = _write_dump(directory, args.leads)
        size = sum(p.stat().st_size for p in directory.iterdir())
        print(f"dump: {args.leads:,} leads, {size / 1e6:,.0f} MB written in {generated:.0f} s")

        def cpu_seconds() -> float:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime

        def run(batch: str) -> tuple[float, dict, float | None]:
            started = time.monotonic()
            sampler = _BackendCPU(args.database_url)
            sampler.start()
            try:
                out = subprocess.run(
                    [*manage, "import_legacy", str(directory), "--batch", batch, "--json"],
                    check=True,
                    env=env,
                    capture_output=True,
                    text=True,
                )
            finally:
                backend_cpu = sampler.stop()
            return time.monotonic() - started, json.loads(out.stdout), backend_cpu

        cpu_before = cpu_seconds()
        elapsed, results, backend_cpu = run("bench")
        cpu = cpu_seconds() - cpu_before
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        leads = results["leads"]
        others = {k: leads[k] for k in ("already_imported", "duplicates_linked", "invalid")}
        print(
            f"import: {leads['created']:,} leads created ({others}) in {leads['seconds']:.0f} s "
            f"= {leads['created'] / leads['seconds']:,.0f} leads/s "
            f"(whole command {elapsed:.0f} s, {cpu:.0f} s of CPU in the import process "
            f"= {leads['created'] / cpu:,.0f} leads per CPU-second); "
            f"peak memory of the import process {peak_mb:,.0f} MB"
        )
        if backend_cpu is not None:
            print(
                f"PostgreSQL: {backend_cpu:.0f} s of CPU in the import's server process "
                f"(import process + server: {cpu + backend_cpu:.0f} s of CPU)"
            )
        if args.rerun:
            elapsed, results, _ = run("bench-rerun")
            leads = results["leads"]
            print(
                f"re-run: {leads['already_imported']:,} already imported, "
                f"{leads['created']} created, {leads['total'] / leads['seconds']:,.0f} rows/s"
            )


if __name__ == "__main__":
    main()
