"""Lead list benchmark (issue 15 §4): the admin's lead list, with its origin-CRM
and target-CRM columns, over many leads.

    .venv/bin/python bench/lead_list.py [--leads 1000000] [--history 0]
        [--renders 5] [--database-url postgres://postgres@127.0.0.1:5432/enersolar_list_bench]
        [--reuse]   (keep an earlier run's data: migrate, render)

1. Drops and re-creates the dedicated database, migrates, runs the demo seed
   and generates the leads with their deliveries as bench/verification.py does.
2. Renders, through Django's test client as a logged-in superuser, the lead
   list (whole and filtered by department), each --renders times after one
   warm-up; prints the SQL statements of one render (count and time of each)
   and the time per render (min / median / max), then PostgreSQL's plan of the
   page's query (EXPLAIN ANALYZE).

Only 127.0.0.1 is contacted (in-memory broker, dummy e-mail backend).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.drain import database_reset, isolate_worktree  # noqa: E402

isolate_worktree()

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/enersolar_list_bench"
PAGES = {
    "lead list": "/admin/leads/lead/",
    "lead list, department 69": "/admin/leads/lead/?departement=69",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the last 24 h")
    parser.add_argument("--history", type=int, default=0, help="older leads (day before)")
    parser.add_argument("--renders", type=int, default=5, help="timed renders of each page")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--reuse", action="store_true", help="keep an earlier run's database")
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
    if not args.reuse:
        database_reset(args.database_url)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from bench.dashboard import measure
    from bench.verification import leads_load
    from demo.seed import demo_seed

    call_command("migrate", verbosity=0)
    if not args.reuse:
        demo_seed(crm_urls={})
        leads_load(leads=args.leads, history=args.history)

    client = Client()
    superuser = get_user_model().objects.filter(username="bench").first()
    superuser = superuser or get_user_model().objects.create_superuser("bench", "bench@example.com")
    client.force_login(superuser)
    print(f"\n=== renders ({args.renders} per page after one warm-up) ===")
    page_query = ""
    for name, url in PAGES.items():
        queries, durations = measure(client, url, args.renders)
        durations.sort()
        print(
            f"{name:<26} {url:<38} queries {len(queries):>2}  per render: "
            f"min {durations[0]:.3f} s, median {durations[len(durations) // 2]:.3f} s, "
            f"max {durations[-1]:.3f} s  (SQL {sum(q[0] for q in queries):.3f} s)"
        )
        for seconds, sql, params in queries:
            print(f"    {seconds:7.3f} s  {' '.join(sql.split())[:130]}")
            if not page_query and '"leads_lead"."id"' in sql and "LIMIT" in sql:
                page_query = connection.ops.compose_sql(sql, params)
    if page_query:
        print("\n=== plan of the page's query ===")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS off) {page_query}")
            for (line,) in cursor.fetchall():
                print(f"    {line}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
