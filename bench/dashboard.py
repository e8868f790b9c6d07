"""Dashboard benchmark (SPEC §8): the admin index over 1,000,000 leads.

    .venv/bin/python bench/dashboard.py [--leads 1000000] [--history 200000]
        [--renders 5] [--database-url postgres://postgres@127.0.0.1:5432/enersolar_dash_bench]

1. Drops and re-creates the dedicated database, migrates, runs the demo seed
   and generates the leads (with their deliveries and attempts) exactly as
   bench/verification.py does: --leads over the last 23 h 50 min, --history
   the day before.
2. Renders, through Django's test client as a logged-in superuser, the admin
   index (the dashboard), the widgets fragment its script refreshes every
   minute, and the departments dashboard (default: last 30 days); each
   --renders times after one warm-up render. Prints the SQL statements of one
   render (count and time of each) and the time per render (min / median / max).

Only 127.0.0.1 is contacted (in-memory broker, dummy e-mail backend).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.drain import database_reset, isolate_worktree  # noqa: E402

isolate_worktree()

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/enersolar_dash_bench"
PAGES = {
    "dashboard (admin index)": "/admin/",
    "widgets fragment (auto refresh)": "/admin/dashboard/widgets/",
    "departments (last 30 days)": "/admin/departments/",
}


def measure(client, url: str, renders: int) -> tuple[list, list[float]]:
    """One warm-up render, then `renders` timed ones; the statements of the last."""
    from django.db import connection

    from bench.verification import QueryTimer

    assert client.get(url).status_code == 200
    durations, timer = [], QueryTimer()
    for _ in range(renders):
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            started = time.monotonic()
            response = client.get(url)
            durations.append(time.monotonic() - started)
        assert response.status_code == 200, (url, response.status_code)
    return timer.queries, durations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the last 24 h")
    parser.add_argument("--history", type=int, default=200_000, help="older leads (day before)")
    parser.add_argument("--renders", type=int, default=5, help="timed renders of each page")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    args = parser.parse_args()

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "enersolar.settings",
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": "memory://localhost/",
            "EMAIL_URL": "dummymail://",
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    print(f"load average before: {os.getloadavg()[0]:.2f}  ({os.cpu_count()} cores)")
    database_reset(args.database_url)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    import backoffice
    from bench.verification import leads_load
    from routing.demo import demo_seed

    print(f"code: {Path(backoffice.__file__).parent}")
    call_command("migrate", verbosity=0)
    demo_seed(crm_urls={})
    leads_load(leads=args.leads, history=args.history)

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", "bench@example.com"))
    print()
    print(f"=== renders ({args.renders} per page after one warm-up) ===")
    for name, url in PAGES.items():
        queries, durations = measure(client, url, args.renders)
        in_sql = sum(q[0] for q in queries)
        print(
            f"{name:<34} {url:<28} queries {len(queries):>2}  "
            f"per render: min {min(durations):.3f} s, median {statistics.median(durations):.3f} s, "
            f"max {max(durations):.3f} s  (SQL {in_sql:.3f} s)"
        )
        for seconds, sql, _ in queries:
            print(f"    {seconds:7.3f} s  {' '.join(sql.split())[:130]}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
