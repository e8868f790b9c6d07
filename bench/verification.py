"""Nightly verification benchmark (SPEC §7): 1,000,000 leads in the last 24 h.

    .venv/bin/python bench/verification.py [--leads 1000000] [--history 200000]
        [--database-url postgres://postgres@127.0.0.1:5432/enersolar_verif_bench]

1. Drops and re-creates the dedicated database, migrates, runs the demo seed
   (two CRMs, one account, three forms, four orders: every foreign key of the
   generated rows points at them).
2. Generates --leads leads spread over the last 23 h 50 min plus --history
   older ones (the day before, outside the window), with a realistic status
   mix, their Delivery rows and their DeliveryAttempt rows, in set-based SQL
   (INSERT … SELECT generate_series); secondary indexes are dropped for the
   load and re-created after (same definitions), then VACUUM ANALYZE.
3. Times routing.services.verification.verification_run() and prints its
   duration, the report's counts and the time of every SQL statement it ran.

Only 127.0.0.1 is contacted: the queue run the verification hands to Celery
goes to an in-memory broker (CELERY_BROKER_URL=memory://localhost/), e-mails to a dummy
backend.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.drain import database_reset, isolate_worktree  # noqa: E402

isolate_worktree()

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/enersolar_verif_bench"
WINDOW_SECONDS = 23 * 3600 + 50 * 60  # the day's leads, inside verification's 24 h window
TABLES = ("leads_lead", "routing_delivery", "routing_deliveryattempt")

# Lead status by per-mille bucket: (upper bound, status).
STATUS_MIX = [
    (800, "success"),
    (803, "returned"),
    (823, "duplicate"),
    (828, "auth_error"),
    (833, "validation_error"),
    (853, "failed"),  # half exhausted retries, half a permanent "failed" answer
    (873, "queued"),
    (883, "pending"),  # half routed and due, half never routed (broker down)
    (903, "pending_no_order"),
    (908, "no_crm"),
    (910, "no_api_key"),
    (940, "invalid_phone"),
    (980, "duplicate_internal"),
    (990, "missing_required"),
    (995, "orphan"),
    (1000, "double_submit"),
]
ROUTED = (
    "success",
    "returned",
    "duplicate",
    "auth_error",
    "validation_error",
    "failed",
    "queued",
    "pending",
)


def _case(pairs: list[tuple[str, str]], default: str = "NULL") -> str:
    whens = " ".join(f"WHEN {cond} THEN {value}" for cond, value in pairs)
    return f"CASE {whens} ELSE {default} END" if pairs else default


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def generate(cursor, *, leads: int, history: int, seed: dict) -> dict[str, float]:
    """Fill the three tables; returns the time of each step."""
    timings: dict[str, float] = {}

    def step(name: str, sql: str, params=None) -> None:
        started = time.monotonic()
        cursor.execute(sql, params)
        timings[name] = time.monotonic() - started

    total = leads + history
    status = _case([(f"b < {upper}", f"'{name}'") for upper, name in STATUS_MIX])
    product = "CASE mod(i, 4) WHEN 2 THEN 'PAC' WHEN 3 THEN 'ITE' ELSE 'PV' END"
    # i = 1 … history: the day before (outside the window); then the day's leads.
    created = (
        "CASE WHEN i <= %(history)s "
        "THEN %(t0)s::timestamptz - interval '25 hours' - (i * %(hstep)s) * interval '1 second' "
        "ELSE %(t0)s::timestamptz - ((%(total)s - i) * %(step)s) * interval '1 second' END"
    )
    step(
        "temp table of the generated leads",
        f"""
        CREATE TEMP TABLE gen AS
        WITH base AS (
            SELECT i, md5('bench-lead-' || i)::uuid AS id, {created} AS created_at,
                   mod(h, 1000) AS b, h / 1000 AS r, {product} AS product
            FROM generate_series(1, %(total)s::bigint) AS i,
                 LATERAL (SELECT abs(hashint8(i)::bigint) AS h) AS hashed
        ), departments AS (
            SELECT array_agg(code ORDER BY code) AS codes FROM enersolar_department
        )
        SELECT base.*, {status} AS status,
               codes[1 + mod(i / 4, cardinality(codes))] AS dept
        FROM base CROSS JOIN departments
        """,
        {
            "history": history,
            "total": total,
            "t0": seed["t0"],
            "step": WINDOW_SECONDS / max(leads, 1),
            "hstep": 20 * 3600 / max(history, 1),
        },
    )
    cursor.execute("ALTER TABLE gen ADD PRIMARY KEY (i)")

    forms = seed["forms"]  # product code -> (form id, form code, lp id, lp code, product id)

    def form_col(k: int) -> str:
        return _case([(f"product = '{p}'", repr_sql(v[k])) for p, v in forms.items()])

    orphan = "status = 'orphan'"
    lead_columns = {
        "id": "id",
        "status": "status",
        "reasons": "CASE WHEN status IN ('success', 'pending') THEN '[]'::jsonb "
        "ELSE jsonb_build_array(upper(status)) END",
        "source": "'public'",
        "created_at": "created_at",
        "register_date": "extract(epoch FROM created_at)::bigint",
        "form_code": f"CASE WHEN {orphan} THEN 'XX-999' ELSE {form_col(1)} END",
        "lp_code": f"CASE WHEN {orphan} THEN '' ELSE {form_col(3)} END",
        "liaison_code": f"CASE WHEN {orphan} THEN '' "
        f"ELSE {form_col(3)} || '_' || {form_col(1)} END",
        "ip": "'127.0.0.1'::inet",
        "utm_source": "'facebook'",
        "utm_medium": "'cpc'",
        "utm_campaign": "'campagne-' || mod(i, 20)",
        "quality_tier": "''",
        "phone": "CASE WHEN status = 'invalid_phone' THEN '' "
        "ELSE '06' || lpad(mod(i, 100000000)::text, 8, '0') END",
        "phone_raw": "'06' || lpad(mod(i, 100000000)::text, 8, '0')",
        "civilite": "CASE WHEN mod(i, 2) = 0 THEN 'M.' ELSE 'Mme' END",
        "nom": "CASE WHEN status = 'missing_required' THEN '' ELSE 'Nom' || i END",
        "prenom": "'Prénom'",
        "email": "'lead' || i || '@example.com'",
        "departement": "dept",
        "code_postal": "dept || '100'",
        "ville": "'Ville'",
        "type_logement": "'maison'",
        "statut_occupant": "'proprietaire'",
        "rgpd_consent": "true",
        "newsletter": "false",
        "account_id": f"CASE WHEN {orphan} THEN NULL ELSE {seed['account']} END",
        "form_id": f"CASE WHEN {orphan} THEN NULL ELSE {form_col(0)} END",
        "landing_page_id": f"CASE WHEN {orphan} THEN NULL ELSE {form_col(2)} END",
        "product_type_id": f"CASE WHEN {orphan} THEN NULL ELSE {form_col(4)} END",
    }
    from leads.models import Lead

    for field in Lead._meta.concrete_fields:  # any column not listed: its empty value
        if field.column not in lead_columns:
            lead_columns[field.column] = (
                "NULL"
                if field.null
                else {"BooleanField": "false", "JSONField": "'{}'::jsonb"}.get(
                    field.get_internal_type(), "''"
                )
            )
    step(
        "leads_lead",
        f"INSERT INTO leads_lead ({', '.join(lead_columns)}) "
        f"SELECT {', '.join(lead_columns.values())} FROM gen",
    )

    # Routing as the demo data does it: PV → zr7 except the 13 (cross-CRM to
    # mdl), PAC → zr7, ITE → mdl; the order of each case.
    orders = seed["orders"]  # key -> (order id, crm id, unit price)
    route = {
        "cross": "product = 'PV' AND dept = '13'",
        "PV": "product = 'PV'",
        "PAC": "product = 'PAC'",
        "ITE": "product = 'ITE'",
    }

    def by_route(k: int) -> str:
        return (
            "CASE "
            + " ".join(f"WHEN {cond} THEN {orders[key][k]}" for key, cond in route.items())
            + " END"
        )

    attempts = (
        "CASE status "
        "WHEN 'success' THEN CASE WHEN mod(r, 100000) = 7 THEN 0 "  # a few anomalies
        "  WHEN mod(r, 20) = 0 THEN 2 + mod(r / 20, 2) ELSE 1 END "  # 5 % recovered
        "WHEN 'failed' THEN CASE WHEN mod(r, 2) = 0 THEN 6 ELSE 1 END "
        "WHEN 'queued' THEN CASE WHEN mod(r, 5) = 0 THEN 0 ELSE 1 + mod(r, 4) END "
        "WHEN 'pending' THEN 0 ELSE 1 END"
    )
    state = (
        "CASE status WHEN 'success' THEN 'success' WHEN 'returned' THEN 'success' "
        "WHEN 'queued' THEN 'pending' WHEN 'pending' THEN 'pending' "
        "WHEN 'failed' THEN CASE WHEN mod(r, 2) = 0 THEN 'exhausted' ELSE 'failed' END "
        "ELSE 'failed' END"
    )
    cursor.execute("ALTER TABLE gen ADD COLUMN attempts int, ADD COLUMN state text")
    step(
        "temp table: delivery decisions",
        f"UPDATE gen SET attempts = {attempts}, state = {state} "
        f"WHERE status IN ({_quoted(ROUTED)}) AND NOT (status = 'pending' AND mod(r, 2) = 1)",
    )
    step(
        "routing_delivery",
        f"""
        INSERT INTO routing_delivery (lead_id, origin_crm_id, crm_id, source, reason, order_id,
            unit_price, routed_at, state, attempts, next_attempt_at, claimed_at, last_error,
            delivered_at)
        SELECT id, {seed["origin_crm"]}, {by_route(1)},
            CASE WHEN {route["cross"]} THEN 'cross_crm' ELSE 'account_routing' END,
            'ORDER:' || {by_route(0)}, {by_route(0)}, {by_route(2)},
            created_at + interval '50 milliseconds', state, attempts,
            CASE status WHEN 'queued' THEN created_at + interval '15 minutes'
                WHEN 'pending' THEN created_at ELSE NULL END,
            NULL,
            CASE WHEN status IN ('queued', 'failed') THEN 'HTTP 503' ELSE '' END,
            CASE WHEN state = 'success' THEN created_at + attempts * interval '1 minute'
                ELSE NULL END
        FROM gen WHERE state IS NOT NULL
        """,
    )
    final = (
        "CASE WHEN k < g.attempts THEN 'transient' ELSE CASE g.status "
        "WHEN 'success' THEN 'success' WHEN 'returned' THEN 'success' "
        "WHEN 'duplicate' THEN 'duplicate' WHEN 'auth_error' THEN 'auth_error' "
        "WHEN 'validation_error' THEN 'validation_error' "
        "WHEN 'failed' THEN CASE WHEN g.state = 'exhausted' THEN 'transient' ELSE 'failed' END "
        "ELSE 'transient' END END"
    )
    step(
        "routing_deliveryattempt",
        f"""
        INSERT INTO routing_deliveryattempt (delivery_id, crm_id, attempted_at, http_status,
            duration_ms, response_excerpt, error, outcome)
        SELECT a.id, a.crm_id, a.at,
            CASE a.outcome WHEN 'success' THEN 201 WHEN 'duplicate' THEN 200
                WHEN 'auth_error' THEN 403 WHEN 'validation_error' THEN 400
                WHEN 'failed' THEN 404 ELSE 503 END,
            40 + mod(a.k * 37, 200),
            CASE a.outcome WHEN 'success' THEN '{{"status": "created"}}'
                WHEN 'duplicate' THEN '{{"message": "doublon"}}' ELSE '' END,
            CASE a.outcome WHEN 'success' THEN '' ELSE 'HTTP 5xx/4xx' END,
            a.outcome
        FROM (
            SELECT g.id, d.crm_id, k,
                g.created_at + (k - 1) * interval '1 minute' + interval '100 milliseconds' AS at,
                {final} AS outcome
            FROM gen g JOIN routing_delivery d ON d.lead_id = g.id
            CROSS JOIN LATERAL generate_series(1, g.attempts) AS k
            WHERE g.attempts > 0
            ORDER BY at
        ) a
        """,
    )
    return timings


def repr_sql(value) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def seed_ids() -> dict:
    """The ids of the demo objects the generated rows refer to."""
    from datetime import timedelta

    from django.utils import timezone

    from demo.seed import DEMO_ACCOUNT
    from enersolar.models import CRM, Account
    from routing.models import Order
    from tracking.models import Form

    account = Account.objects.get(name=DEMO_ACCOUNT)
    forms = {
        f.product_type.code: (
            f.pk,
            f.code,
            f.landing_page_id,
            f.landing_page.code,
            f.product_type_id,
        )
        for f in Form.objects.filter(account=account).select_related("product_type", "landing_page")
    }
    crms = dict(CRM.objects.values_list("slug", "pk"))

    def order(slug: str, product: str) -> tuple:
        o = Order.objects.get(crm__slug=slug, product_type__code=product)
        return (o.pk, o.crm_id, o.unit_price)

    return {
        "t0": timezone.now() - timedelta(seconds=5),
        "account": account.pk,
        "origin_crm": account.origin_crm_id or crms["zr7"],
        "forms": forms,
        "orders": {
            "cross": order("mdl", "PV"),
            "PV": order("zr7", "PV"),
            "PAC": order("zr7", "PAC"),
            "ITE": order("mdl", "ITE"),
        },
    }


class QueryTimer:
    """connection.execute_wrapper: the time of each statement."""

    def __init__(self) -> None:
        self.queries: list[tuple[float, str, object]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.monotonic()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.monotonic() - started, sql, params))


def leads_load(*, leads: int, history: int) -> None:
    """Fill the migrated, demo-seeded database (see the module docstring, step 2)
    and print the time of each step."""
    from django.db import connection, transaction

    seed = seed_ids()
    print(f"generating {leads} leads of the last 24 h (+{history} older) …")
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT LIKE '%%_pkey'",
            [list(TABLES)],
        )
        indexes = cursor.fetchall()
        with transaction.atomic():
            # Rows are valid by construction (ids from the seed); FK triggers
            # off for the load, checked once below.
            cursor.execute("SET LOCAL session_replication_role = replica")
            for name, _ in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            timings = generate(cursor, leads=leads, history=history, seed=seed)
            index_started = time.monotonic()
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for _, definition in indexes:
                cursor.execute(definition)
            timings["secondary indexes (re-created)"] = time.monotonic() - index_started
            cursor.execute("DROP TABLE gen")
        check_started = time.monotonic()
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM routing_delivery d
                 LEFT JOIN leads_lead l ON l.id = d.lead_id WHERE l.id IS NULL),
              (SELECT count(*) FROM routing_deliveryattempt a
                 LEFT JOIN routing_delivery d ON d.lead_id = a.delivery_id
                 WHERE d.lead_id IS NULL),
              (SELECT count(*) FROM leads_lead l WHERE
                 (l.form_id IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM tracking_form f WHERE f.id = l.form_id))
                 OR (l.account_id IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM enersolar_account c WHERE c.id = l.account_id)))
            """
        )
        dangling = cursor.fetchone()
        timings["foreign keys checked"] = time.monotonic() - check_started
        if any(dangling):
            sys.exit(f"generated rows with dangling foreign keys: {dangling}")
        vacuum_started = time.monotonic()
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
        timings["VACUUM ANALYZE"] = time.monotonic() - vacuum_started
        cursor.execute(
            "SELECT relname, n_live_tup, pg_size_pretty(pg_total_relation_size(relid)) "
            "FROM pg_stat_user_tables WHERE relname = ANY(%s) ORDER BY relname",
            [list(TABLES)],
        )
        sizes = cursor.fetchall()
    for name, seconds in timings.items():
        print(f"  {name:<36}{seconds:7.1f} s")
    print(
        f"  total {time.monotonic() - started:.1f} s; "
        + ", ".join(f"{t}: {n} rows, {s}" for t, n, s in sizes)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the last 24 h")
    parser.add_argument("--history", type=int, default=200_000, help="older leads (day before)")
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--explain", type=int, default=0, help="EXPLAIN ANALYZE the N slowest")
    args = parser.parse_args()

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "enersolar.settings",
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": "memory://localhost/",
            "EMAIL_URL": "dummymail://",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("CELERY_TASK_ALWAYS_EAGER", None)
    print(f"load average before: {os.getloadavg()[0]:.2f}  ({os.cpu_count()} cores)")
    database_reset(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    import routing
    from demo.seed import demo_seed
    from routing.services.verification import verification_run, verification_summary

    print(f"code: {Path(routing.__file__).parent}")
    call_command("migrate", verbosity=0)
    demo_seed(crm_urls={})
    leads_load(leads=args.leads, history=args.history)

    timer = QueryTimer()
    print("verification_run() …")
    with connection.execute_wrapper(timer):
        started = time.monotonic()
        report = verification_run(triggered_by="bench")
        duration = time.monotonic() - started

    print()
    print("=== verification results ===")
    print(f"verification_run()            {duration:.2f} s  (target < 60 s)")
    in_sql = sum(q[0] for q in timer.queries)
    print(f"SQL statements                {len(timer.queries)}, {in_sql:.2f} s")
    for seconds, sql, _ in timer.queries:
        print(f"  {seconds:7.3f} s  {' '.join(sql.split())[:150]}")
    print()
    print(verification_summary(report))

    if args.explain:
        print()
        print(f"=== EXPLAIN ANALYZE of the {args.explain} slowest (state after the run) ===")
        slowest = sorted(timer.queries, key=lambda q: q[0], reverse=True)[: args.explain]
        for seconds, sql, params in slowest:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                transaction.set_rollback(True)
            print(f"--- {seconds:.3f} s: {' '.join(sql.split())[:120]}")
            print(plan)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if duration < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
