"""Benchmark of the forms' counters (card view, GET /api/forms) and of the
staff lead list (GET /api/leads) on a large PostgreSQL database.

    .venv/bin/python bench/forms.py [--forms 200] [--sessions 1000000]
        [--leads 1000000] [--runs 5]
        [--database-url postgres://postgres@127.0.0.1:5432/enersolar_bench_forms]
        [--reuse] [--explain]

Steps: drop and recreate the database; migrate; seed_demo; add `--forms`
forms; generate in SQL `--sessions` visitor sessions spread over the forms and
the last 60 days, each with a `form_start` event, and `--leads` leads in
those sessions (1 in 10 without a session: direct; 1 % double submits and
12 % invalid phones, which do not finish); reset the stats of every other form
15 days ago; VACUUM ANALYZE (as autovacuum would: the visibility map lets
the counts read the indexes alone). Then time (min and median of `--runs`,
with the number of SQL queries):
- `tracking.selectors.forms_with_stats` over every form (the counters alone);
- the admin's card page (first page: 48 cards), as a superuser;
- `GET /api/forms` (first page: 50 forms);
- `GET /api/leads` first page, then with `status=success`, `departement=13`,
  and the 20th page through the cursor.

The database URL must point to a loopback host and name a database with
"bench" or "forms" in it: the script drops it.
"""

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.billing import _insert_sql, database_reset, django_setup, step  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/enersolar_bench_forms"


def check_url(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"refusing a database outside this machine: {parts.hostname}")
    if "bench" not in name and "forms" not in name:
        raise SystemExit(f'refusing to drop "{name}": its name must contain bench or forms')


def data_generate(*, forms: int, sessions: int, leads: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from leads.models import Lead
    from tracking.models import Form, TrackingEvent, VisitorSession

    step("migrate", lambda: call_command("migrate", verbosity=0))
    step("seed_demo", lambda: call_command("seed_demo", stdout=io.StringIO()))
    template = Form.objects.get(code="PV-001")

    def more_forms():
        for n in range(forms):
            template.pk, template.code, template.name = None, "", f"Bench {n}"
            template._state.adding = True
            template.save()

    step(f"{forms} forms", more_forms)
    rows = list(Form.objects.order_by("pk").values_list("pk", "landing_page_id", "account_id"))
    form_ids = f"ARRAY{[r[0] for r in rows]}::bigint[]"
    lp_ids = f"ARRAY{[r[1] for r in rows]}::bigint[]"
    account_ids = f"ARRAY{[r[2] for r in rows]}::bigint[]"
    count = len(rows)
    pick = f"1 + (n::bigint * 7919) % {count}"  # spread unevenly-ordered over the forms

    with connection.cursor() as cursor:
        gen = f"""
            CREATE UNLOGGED TABLE bench_forms_gen AS
            SELECT n, gen_random_uuid() AS id,
                   now() - random() * interval '60 days' AS at,
                   ({form_ids})[{pick}] AS form_id, ({lp_ids})[{pick}] AS lp_id,
                   ({account_ids})[{pick}] AS account_id
            FROM generate_series(1, {max(sessions, leads)}) AS n
        """
        session_sql = _insert_sql(
            VisitorSession,
            {
                "id": "id",
                "visitor_id": "id::text",
                "status": "'active'",
                "form_id": "form_id",
                "landing_page_id": "lp_id",
                "account_id": "account_id",
                "created_at": "at",
            },
            "bench_forms_gen",
        )
        event_sql = _insert_sql(
            TrackingEvent,
            {
                "id": "n",
                "session_id": "id",
                "event_type": "'form_start'",
                "data": "'{}'::jsonb",
                "form_id": "form_id",
                "landing_page_id": "lp_id",
                "account_id": "account_id",
                "created_at": "at + interval '20 seconds'",
            },
            "bench_forms_gen",
        )
        lead_sql = _insert_sql(
            Lead,
            {
                "id": "gen_random_uuid()",
                "status": """CASE WHEN n % 100 = 0 THEN 'double_submit'
                                  WHEN n % 25 < 3 THEN 'invalid_phone'
                                  WHEN n % 25 < 20 THEN 'success' ELSE 'failed' END""",
                "reasons": "'[]'::jsonb",
                "raw_payload": "'{}'::jsonb",
                "source": "'public'",
                "created_at": "at + interval '3 minutes'",
                "register_date": "extract(epoch FROM at)::bigint",
                # In the session that started the form, but 1 in 10 (and
                # leads beyond the sessions): direct, as a partner's.
                "session_id": f"CASE WHEN n % 10 = 0 OR n > {sessions} THEN NULL ELSE id END",
                "form_id": "form_id",
                "account_id": "account_id",
                "landing_page_id": "lp_id",
                "product_type_id": str(template.product_type_id),
                "phone": "'06' || lpad(n::text, 8, '0')",
                "nom": "'Bench'",
                "email": "'lead' || n || '@example.com'",
                "departement": "lpad((1 + n % 95)::text, 2, '0')",
            },
            f"bench_forms_gen WHERE n <= {leads}",
        )
        with transaction.atomic():
            step("generate", lambda: cursor.execute(gen))
            step(
                f"{sessions} sessions",
                lambda: cursor.execute(session_sql + f" WHERE n <= {sessions}"),
            )
            step(
                f"{sessions} form_start events",
                lambda: cursor.execute(event_sql + f" WHERE n <= {sessions}"),
            )
            step(f"{leads} leads", lambda: cursor.execute(lead_sql))
            events = TrackingEvent._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{events}', 'id'), "
                f"(SELECT max(id) FROM {events}))"
            )
            cursor.execute(
                f"UPDATE {Form._meta.db_table} SET stats_reset_at = now() - interval '15 days' "
                "WHERE id % 2 = 0"
            )
            cursor.execute("DROP TABLE bench_forms_gen")
    # VACUUM cannot run in a transaction: autocommit is Django's default here.
    with connection.cursor() as cursor:
        step("VACUUM ANALYZE", lambda: cursor.execute("VACUUM ANALYZE"))


def timed(label: str, run, runs: int) -> None:
    from django.db import connection, reset_queries

    seconds, queries = [], 0
    for _ in range(runs):
        reset_queries()
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
        queries = len(connection.queries)
    print(
        f"  {label:<48} min {min(seconds) * 1000:8.1f} ms   "
        f"median {statistics.median(seconds) * 1000:8.1f} ms   {queries} queries"
    )


def measure(runs: int, explain: bool) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tracking.selectors import forms_with_stats

    settings.DEBUG = True  # connection.queries
    settings.ALLOWED_HOSTS = ["*"]
    boss, _ = get_user_model().objects.get_or_create(
        username="bench-boss", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(boss)

    def ok(path, params=None):
        response = client.get(path, params or {})
        assert response.status_code == 200, (path, response.status_code)
        return response

    def twentieth_page():
        url = "/api/leads?page_size=50"
        for _ in range(20):
            url = ok(url).json()["next"]

    print("timings:")
    timed("forms_with_stats (every form)", lambda: list(forms_with_stats()), runs)
    timed("admin card page (48 cards)", lambda: ok("/admin/tracking/form/"), runs)
    timed("GET /api/forms (50 forms)", lambda: ok("/api/forms"), runs)
    timed("GET /api/leads", lambda: ok("/api/leads"), runs)
    timed("GET /api/leads?status=success", lambda: ok("/api/leads", {"status": "success"}), runs)
    timed("GET /api/leads?departement=13", lambda: ok("/api/leads", {"departement": "13"}), runs)
    timed("GET /api/leads, 20 pages by cursor", twentieth_page, max(1, runs // 2))
    if explain:
        from django.db import connection

        sql, params = forms_with_stats().order_by("code")[:48].query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("\n".join(row[0] for row in cursor.fetchall()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forms", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    check_url(args.database_url)
    if not args.reuse:
        database_reset(args.database_url)
    django_setup(args.database_url)
    if not args.reuse:
        data_generate(forms=args.forms, sessions=args.sessions, leads=args.leads)
    measure(args.runs, args.explain)


if __name__ == "__main__":
    main()
