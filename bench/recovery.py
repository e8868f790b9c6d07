"""Recovery benchmark: how long after a buyer comes back are its leads
delivered, with the DEFAULT settings and nobody calling the queue endpoints?

    .venv/bin/python bench/recovery.py [--leads 5] [--down 90]
        [--database-url postgres://postgres@127.0.0.1:5432/enersolar_recovery]
    .venv/bin/python bench/recovery.py --embedded     # SQLite + Procfile.demo

Starts the deployment the system tests use (tests/system/harness.py: the
Procfile's own lines, gunicorn + celery worker + celery beat, a redis-server
of its own unless --embedded, a local fake buyer), with the product's default
timings (retry ladder 60 s…, queue run every 60 s, circuit probe after 60 s);
only the rate limits are raised. The buyer answers 500; --leads leads are
posted through the public API; after --down seconds the buyer answers 201.
Prints the seconds from the recovery to each lead's delivery, read from the
database, and how many times the buyer took each lead (must be 1).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=5)
    parser.add_argument("--down", type=float, default=90, help="seconds the buyer answers 500")
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/enersolar_recovery"
    )
    parser.add_argument("--embedded", action="store_true", help="SQLite and Procfile.demo")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enersolar.settings")
    from tests.buyer import FakeBuyer
    from tests.system import harness
    from tests.system.leads import LandingPage, statuses

    # Defaults everywhere but the rate limits: one client sends every lead.
    harness.TIMINGS = {k: v for k, v in harness.TIMINGS.items() if k.startswith("RATE_LIMIT")}
    folder = Path(tempfile.mkdtemp(prefix="recovery-"))
    database_url = (
        f"sqlite:///{folder / 'recovery.sqlite3'}" if args.embedded else args.database_url
    )
    redis = None if args.embedded else harness.RedisServer(folder)
    buyer = FakeBuyer().start()
    stack = harness.Stack(folder, database_url=database_url, redis=redis, buyer=buyer)
    try:
        if redis:
            redis.start()
        stack.start()
        buyer.answer(500)
        ids = LandingPage(stack).leads(args.leads)
        print(f"{args.leads} leads posted; buyer answers 500 for {args.down:g} s")
        time.sleep(args.down)
        buyer.answer(201)
        recovered = time.monotonic()
        print("buyer answers 201 from now on")
        delivered_after: dict[str, float] = {}
        while len(delivered_after) < len(ids):
            if time.monotonic() - recovered > args.timeout:
                print(f"TIMEOUT: {len(delivered_after)} of {len(ids)} delivered")
                break
            for lead_id, status in statuses(stack, ids).items():
                if status == "success" and lead_id not in delivered_after:
                    delivered_after[lead_id] = time.monotonic() - recovered
            time.sleep(0.5)
        taken = buyer.count_by_idempotency_key(answered=201)
        times = sorted(delivered_after.values())
        kind = "SQLite + Procfile.demo" if args.embedded else "PostgreSQL + Redis + Procfile"
        print(f"deployment: {kind}")
        print(f"attempts at the buyer before recovery: {len(buyer.requests) - sum(taken.values())}")
        if times:
            print(f"delivered after recovery: first {times[0]:.1f} s, last {times[-1]:.1f} s")
        counts = [taken[str(i)] for i in ids]
        print(f"taken per lead: min {min(counts)}, max {max(counts)}")
    finally:
        stack.stop()
        buyer.stop()
        if redis:
            redis.stop()
        stack.db.drop()


if __name__ == "__main__":
    main()
