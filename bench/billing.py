"""Benchmark of the cross-CRM billing reads on a large PostgreSQL database.

    .venv/bin/python bench/billing.py [--leads 1000000] [--runs 5]
        [--database-url postgres://postgres@127.0.0.1:5432/enersolar_billing]
        [--reuse] [--explain]

Steps: drop and recreate a dedicated PostgreSQL database; migrate; seed_demo;
add four more CRMs; generate the leads and their Delivery rows in SQL
(`INSERT … SELECT … FROM generate_series`): every CRM as target, origins mixed
(40 % the target itself, 10 % none, the rest another CRM), delivered over the
last 30 days, 90 % success, 3 % of the successes returned; ANALYZE. Then time,
over the last 30 days:
- `billing.selectors.cross_crm_summary` (the selector alone);
- `GET /api/billing/cross-crm/summary?period=30d` (through DRF, no HTTP server);
- `GET /api/billing/cross-crm?period=30d`, the first page of the paginated
  list of cross-CRM leads, with the summary;
each a few times (min and median), with its number of SQL queries.

Target (SPEC §11 style): each under 2 s. `--reuse` skips the generation when
the database already holds the data; `--explain` prints PostgreSQL's plans.
The database URL must point to a loopback host and name a database with
"billing" or "bench" in it: the script drops it.
"""

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder is sys.path[0] and `billing` would be this very
# file: the worktree's root takes its place. The shared virtualenv's editable
# install of the project (another checkout) must not serve any module either.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.meta_path[:] = [
    finder
    for finder in sys.meta_path
    if "editable" not in type(finder).__module__ and "editable" not in repr(finder)
]

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/enersolar_billing"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
TARGET_SECONDS = 2.0
EXTRA_CRMS = ["crm3", "crm4", "crm5", "crm6"]


def database_reset(url: str) -> None:
    """DROP and CREATE the benchmark database, from the server's `postgres` database."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def check_url(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in {"postgres", "postgresql"}:
        raise SystemExit("--database-url must be a postgres:// URL")
    if parts.hostname not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing a database outside this machine: {parts.hostname}")
    if "billing" not in name and "bench" not in name:
        raise SystemExit(f'refusing to drop "{name}": its name must contain billing or bench')


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enersolar.settings")
    os.environ.setdefault("CONN_MAX_AGE", "0")
    import django

    django.setup()
    foreign = [
        f"{name} ({module.__file__})"
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in {"enersolar", "tracking", "leads", "routing", "billing"}
        and getattr(module, "__file__", None)
        and not Path(module.__file__).resolve().is_relative_to(ROOT)
    ]
    if foreign:
        raise SystemExit("modules from another checkout: " + ", ".join(foreign))


# --- Data --------------------------------------------------------------------------


def _insert_sql(model, expressions: dict[str, str], source: str) -> str:
    """INSERT INTO <model's table> (every column) SELECT … FROM <source>.

    Columns not given get NULL when nullable, '' for text and their default
    for booleans; anything else must be given, so a new NOT NULL column of
    the model stops the script instead of failing in PostgreSQL."""
    from django.db import models

    columns, values = [], []
    for f in model._meta.concrete_fields:
        if f.column in expressions:
            value = expressions[f.column]
        elif f.null:
            value = "NULL"
        elif isinstance(f, models.CharField | models.TextField):
            value = "''"
        elif isinstance(f, models.BooleanField) and f.has_default():
            value = "true" if f.default else "false"
        else:
            raise SystemExit(f"bench/billing.py: say what to write in {model.__name__}.{f.column}")
        columns.append(f'"{f.column}"')
        values.append(value)
    unknown = set(expressions) - {f.column for f in model._meta.concrete_fields}
    if unknown:
        raise SystemExit(f"bench/billing.py: no such column in {model.__name__}: {unknown}")
    return (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM {source}"
    )


def data_generate(leads: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from billing.models import LeadReturn
    from enersolar.models import CRM, Account, ProductType
    from leads.models import Lead
    from routing.models import Delivery

    step("migrate", lambda: call_command("migrate", verbosity=0))
    step("seed_demo", lambda: call_command("seed_demo", stdout=io.StringIO()))
    for slug in EXTRA_CRMS:
        CRM.objects.get_or_create(
            slug=slug,
            defaults={"name": slug.upper(), "api_url": f"http://127.0.0.1:9/{slug}/"},
        )
    crm_ids = list(CRM.objects.order_by("pk").values_list("pk", flat=True))
    product_ids = list(ProductType.objects.order_by("pk").values_list("pk", flat=True))
    account_id = Account.objects.values_list("pk", flat=True).first()
    crms = f"ARRAY{crm_ids}::bigint[]"
    products = f"ARRAY{product_ids}::bigint[]"
    count = len(crm_ids)

    gen = f"""
        CREATE UNLOGGED TABLE bench_billing_gen AS
        SELECT n,
               gen_random_uuid() AS id,
               now() - random() * interval '30 days' AS at,
               ({crms})[1 + n % {count}] AS crm_id,
               CASE WHEN n % 10 < 4 THEN ({crms})[1 + n % {count}]
                    WHEN n % 10 = 9 THEN NULL
                    ELSE ({crms})[1 + (n / 10 + 1) % {count}] END AS origin_id,
               (ARRAY[15, 20, 25, 30, 40])[1 + (n / 3) % 5]::numeric(10, 2) AS price,
               ({products})[1 + (n / 7) % {len(product_ids)}] AS product_id,
               lpad((1 + n % 95)::text, 2, '0') AS dep,
               r AS r
        FROM (SELECT n, random() AS r FROM generate_series(1, {leads}) AS n) AS g
    """
    state = """CASE WHEN r < 0.90 THEN 'success' WHEN r < 0.95 THEN 'failed'
                    WHEN r < 0.98 THEN 'exhausted' ELSE 'pending' END"""
    returned = "r < 0.90 * 0.03"  # 3 % of the successes
    lead_sql = _insert_sql(
        Lead,
        {
            "id": "id",
            "status": f"""CASE WHEN {returned} THEN 'returned' WHEN r < 0.90 THEN 'success'
                              WHEN r < 0.98 THEN 'failed' ELSE 'queued' END""",
            "reasons": "'[]'::jsonb",
            "source": "'public'",
            "created_at": "at - interval '1 minute'",
            "register_date": "extract(epoch FROM at)::bigint",
            "account_id": str(account_id),
            "product_type_id": "product_id",
            "phone": "'06' || lpad(n::text, 8, '0')",
            "nom": "'Bench'",
            "prenom": "'Lead'",
            "email": "'lead' || n || '@example.com'",
            "departement": "dep",
        },
        "bench_billing_gen",
    )
    delivery_sql = _insert_sql(
        Delivery,
        {
            "lead_id": "id",
            "origin_crm_id": "origin_id",
            "crm_id": "crm_id",
            "source": """CASE WHEN origin_id IS DISTINCT FROM crm_id AND origin_id IS NOT NULL
                              THEN 'cross_crm' ELSE 'account_routing' END""",
            "unit_price": "price",
            "routed_at": "at - interval '30 seconds'",
            "state": state,
            "attempts": "1",
            "next_attempt_at": "CASE WHEN r >= 0.98 THEN at + interval '1 hour' END",
            "last_error": "CASE WHEN r >= 0.90 THEN 'HTTP 400' ELSE '' END",
            "delivered_at": "CASE WHEN r < 0.90 THEN at END",
        },
        "bench_billing_gen",
    )
    return_sql = _insert_sql(
        LeadReturn,
        {"lead_id": "id", "reason": "'bench'", "returned_at": "at + interval '1 day'"},
        f"bench_billing_gen WHERE {returned}",
    )

    def generate():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT setseed(0.42)")
            cursor.execute(gen)
            for sql in (lead_sql, delivery_sql, return_sql):
                cursor.execute(sql)
            cursor.execute("DROP TABLE bench_billing_gen")

    step(f"generate {leads:,} leads and deliveries", generate)

    def analyze():
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    step("VACUUM ANALYZE", analyze)


def step(label: str, action) -> None:
    started = time.perf_counter()
    print(f"{label}…", end=" ", flush=True)
    action()
    print(f"{time.perf_counter() - started:.1f} s", flush=True)


# --- Timing ------------------------------------------------------------------------


def timed(action, runs: int) -> tuple[list[float], int]:
    """Seconds of each run (after one warm-up run) and the queries of one run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        action()
    count = len(queries)  # now: the log is cleared by the next request
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times, count


def measure(runs: int, explain: bool) -> tuple[list[tuple[str, list[float], int]], dict]:
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import setup_test_environment
    from django.utils import timezone
    from rest_framework.test import APIClient

    from billing.selectors import billable_deliveries, cross_crm_summary

    setup_test_environment()  # the test client's host name is allowed
    user = get_user_model().objects.filter(is_superuser=True).first()
    client = APIClient()
    client.force_authenticate(user)

    def summary():
        end = timezone.now()
        return cross_crm_summary(end - timedelta(days=30), end)

    def api(path):
        def get():
            response = client.get(path, {"period": "30d"})
            assert response.status_code == 200, response.content[:300]
            return response

        return get

    first = api("/api/billing/cross-crm")().json()
    # The summary and the list agree on what they count.
    assert sum(pair["leads"] for pair in first["pairs"]) == first["leads"]["count"]
    results = []
    for label, action in [
        ("cross_crm_summary (selector)", summary),
        ("GET /api/billing/cross-crm/summary", api("/api/billing/cross-crm/summary")),
        ("GET /api/billing/cross-crm (page 1)", api("/api/billing/cross-crm")),
    ]:
        times, queries = timed(action, runs)
        results.append((label, times, queries))

    if explain:
        end = timezone.now()
        start = end - timedelta(days=30)
        rows = (
            billable_deliveries(start, end)
            .values("origin_crm", "crm")
            .order_by("origin_crm", "crm")
        )
        from django.db.models import Count, Sum

        plans = {
            "summary": rows.annotate(leads=Count("pk"), amount=Sum("unit_price")),
            "page 1": billable_deliveries(start, end)
            .select_related("origin_crm", "crm", "lead__product_type")
            .order_by("-delivered_at", "pk")[:50],
        }
        for name, queryset in plans.items():
            print(f"\n--- plan: {name}")
            print(queryset.explain(analyze=True))
        with connection.cursor() as cursor:
            cursor.execute("SHOW work_mem")
            print("work_mem:", cursor.fetchone()[0])

    return results, first


def report(leads_total: int, results, first) -> bool:
    from django.db import connection

    from billing.models import LeadReturn
    from routing.models import Delivery

    deliveries = Delivery.objects.count()
    returns = LeadReturn.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    print()
    print(f"{version}; {os.cpu_count()} CPUs; Django {__import__('django').get_version()}")
    print(
        f"{leads_total:,} leads, {deliveries:,} deliveries, {returns:,} returns; "
        f"cross-CRM leads in the last 30 days: {first['leads']['count']:,} "
        f"over {len(first['pairs'])} CRM pairs"
    )
    print()
    print(f"{'what (last 30 days)':40} {'min':>8} {'median':>8} {'max':>8} {'queries':>8}")
    ok = True
    for label, times, queries in results:
        print(
            f"{label:40} {min(times):7.3f}s {statistics.median(times):7.3f}s "
            f"{max(times):7.3f}s {queries:8d}"
        )
        ok &= statistics.median(times) < TARGET_SECONDS
    print()
    print(f"target: median < {TARGET_SECONDS:.0f} s each — {'met' if ok else 'NOT met'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--reuse", action="store_true", help="keep the database and its data")
    parser.add_argument("--explain", action="store_true", help="print PostgreSQL's plans")
    args = parser.parse_args()
    check_url(args.database_url)

    if not args.reuse:
        step("reset the database", lambda: database_reset(args.database_url))
    django_setup(args.database_url)
    from leads.models import Lead

    if not args.reuse:
        data_generate(args.leads)
    results, first = measure(args.runs, args.explain)
    ok = report(Lead.objects.count(), results, first)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
