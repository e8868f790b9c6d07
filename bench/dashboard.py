"""Dashboard benchmark (SPEC §8): the admin index over 1,000,000 leads.

    .venv/bin/python bench/dashboard.py [--leads 1000000] [--history 200000]
        [--renders 5] [--database-url postgres://postgres@127.0.0.1:5432/enersolar_dash_bench]
        [--reuse]   (keep an earlier run's data: migrate, refresh, render)

1. Drops and re-creates the dedicated database, migrates, runs the demo seed
   and generates the leads (with their deliveries and attempts) exactly as
   bench/verification.py does: --leads over the last 23 h 50 min, --history
   the day before.
2. Adds --sessions visitor sessions over the same 23 h 50 min, each with its
   form_start event (the conversion widget's "started"), in set-based SQL.
3. Runs the refresh-lead-day-counts job twice, as beat does every minute (the
   dashboard's stored lead counts, form starts and delivery totals), and
   times it.
4. Renders, through Django's test client as a logged-in superuser, the admin
   index (the dashboard), the widgets fragment its script refreshes every
   minute, and the departments dashboard (default: last 30 days); each
   --renders times after one warm-up render. Prints the SQL statements of one
   render (count and time of each) and the time per render (min / median / max).
5. Computes the dashboard's numbers both ways, stored + live tail and live
   only (lead days, form starts, queue counts), times each and says whether
   they are equal.

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


def _row_sql(model, given: dict[str, str]) -> dict[str, str]:
    """Column -> SQL expression: `given`, and every other column's empty value."""
    columns = dict(given)
    for field in model._meta.concrete_fields:
        if field.column not in columns:
            kind = field.get_internal_type()
            columns[field.column] = (
                "NULL"
                if field.null
                else {"BooleanField": "false", "JSONField": "'{}'::jsonb"}.get(kind, "''")
            )
    return columns


def form_starts_load(*, sessions: int) -> None:
    """Visitor sessions on the demo PV form, each with its form_start event."""
    from django.db import connection, transaction

    from bench.verification import WINDOW_SECONDS
    from tracking.models import Form, TrackingEvent, VisitorSession

    form = Form.objects.select_related("landing_page").get(code="PV-001")
    context = {
        "form_id": str(form.pk),
        "landing_page_id": str(form.landing_page_id),
        "account_id": str(form.account_id),
        "lp_code": f"'{form.landing_page.code}'",
        "form_code": f"'{form.code}'",
        "liaison_code": f"'{form.landing_page.code}_{form.code}'",
        "utm_source": "'facebook'",
    }
    session = _row_sql(
        VisitorSession,
        {
            **context,
            "id": "md5('bench-session-' || i)::uuid",
            "visitor_id": "'visitor-' || i",
            "status": "'active'",
            "created_at": "now() - (i * %(step)s) * interval '1 second'",
        },
    )
    event = _row_sql(
        TrackingEvent,
        {
            **context,
            "session_id": "id",
            "event_type": "'form_start'",
            "created_at": "created_at + interval '10 seconds'",
        },
    )
    event.pop("id")
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # rows valid by construction
        cursor.execute(
            f"INSERT INTO tracking_visitorsession ({', '.join(session)}) "
            f"SELECT {', '.join(session.values())} FROM generate_series(1, %(n)s) AS i",
            {"n": sessions, "step": WINDOW_SECONDS / max(sessions, 1)},
        )
        cursor.execute(
            f"INSERT INTO tracking_trackingevent ({', '.join(event)}) "
            f"SELECT {', '.join(event.values())} FROM tracking_visitorsession"
        )
    with connection.cursor() as cursor:
        for table in ("tracking_visitorsession", "tracking_trackingevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"  {sessions} sessions with form_start        {time.monotonic() - started:7.1f} s")


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


def compare_with_live() -> None:
    """Each stored + live reader against its live-only twin: time and equality."""
    from django.utils import timezone

    from backoffice.selectors import form_starts, form_starts_live, lead_days, lead_days_live
    from routing.selectors import queue_stats, queue_stats_live

    def timed(read):
        started = time.monotonic()
        result = read()
        return result, time.monotonic() - started

    now = timezone.now()
    pairs = {
        "lead days (7)": (lambda: lead_days(now=now), lambda: lead_days_live(now=now)),
        "form starts": (lambda: form_starts(now=now), lambda: form_starts_live(now=now)),
        "queue counts": (queue_stats, queue_stats_live),
    }
    print()
    print("=== the same numbers as the live queries ===")
    for name, (shown_read, live_read) in pairs.items():
        shown, shown_s = timed(shown_read)
        live, live_s = timed(live_read)
        print(
            f"{name:<16} stored + live {shown_s:.3f} s, live only {live_s:.3f} s, "
            f"equal: {shown == live}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the last 24 h")
    parser.add_argument("--history", type=int, default=200_000, help="older leads (day before)")
    parser.add_argument(
        "--sessions", type=int, default=1_300_000, help="sessions with form_start (24 h)"
    )
    parser.add_argument("--renders", type=int, default=5, help="timed renders of each page")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database of an earlier run (migrate, refresh the counts, render)",
    )
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
    from django.test import Client

    import backoffice
    from bench.verification import leads_load
    from demo.seed import demo_seed

    print(f"code: {Path(backoffice.__file__).parent}")
    call_command("migrate", verbosity=0)
    if not args.reuse:
        demo_seed(crm_urls={})
        leads_load(leads=args.leads, history=args.history)
        form_starts_load(sessions=args.sessions)
    # What beat's refresh-lead-day-counts job does every minute: the
    # dashboard reads these stored counts and counts live only the leads
    # created since (none here: the load is over).
    from backoffice.services import lead_day_counts_refresh

    for _ in range(2):  # the first run reads a cold table
        started = time.monotonic()
        stored = lead_day_counts_refresh()
        print(f"  lead day counts refreshed ({stored} rows)  {time.monotonic() - started:7.1f} s")

    client = Client()
    superuser = get_user_model().objects.filter(username="bench").first()
    superuser = superuser or get_user_model().objects.create_superuser("bench", "bench@example.com")
    client.force_login(superuser)
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
    from django.utils import timezone

    from backoffice.dashboard import dashboard_build

    dashboard = dashboard_build(user=superuser, now=timezone.now())
    leads = dashboard["leads"]
    print(
        f"shown: {leads['today_total']} leads today (Paris), {leads['week_total']} in 7 days; "
        + "; ".join(
            f"{row['label']}: {row['started']} started, {row['finished']} leads"
            for row in leads["conversion"]
        )
        + f"; queue total {dashboard['queue']['total']}"
    )
    compare_with_live()
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
