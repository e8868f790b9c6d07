"""Where a lead intake's time goes, in one process, without HTTP.

    .venv/bin/python bench/profile_intake.py [--requests 500] [--pyinstrument]
        [--database-url postgres://postgres@127.0.0.1:5432/enersolar_bench]

Run it after bench/intake.py, on the database that script prepared (seed_demo
and the pool of visitor sessions). It prints, per request and per call:
- the CPU and wall time of each endpoint through Django's test client (the
  whole stack but the WSGI server);
- the cost of each step of `leads.services.lead_receive` called on its own
  (validation, lookups, phone check, the transaction, the CRM hint), so the
  steps can be compared to the bare view's single INSERT;
- with --pyinstrument (pip install pyinstrument), a call tree of the leads
  endpoint.

CPU is this process's own (time.process_time): PostgreSQL's work is not in it,
the wait for PostgreSQL's answers is in the wall time. It only reads and adds
rows to the benchmark database, nothing else.
"""

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))

from bench.intake import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    ENDPOINTS,
    BenchError,
    database_parts,
    django_setup,
    sample_bodies,
)

MOBILE_PREFIXES = ("060", "061", "062", "064", "065", "066", "067", "068", "073", "077")


def random_phone() -> str:
    while True:
        number = random.choice(MOBILE_PREFIXES) + "".join(random.choices("0123456789", k=7))
        if max(number[1:].count(d) for d in set(number[1:])) < 8:
            return number


def measure(fn, count: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call of fn, after a few warm-up calls."""
    for _ in range(min(20, count)):
        fn()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        fn()
    return (
        1000 * (time.process_time() - cpu) / count,
        1000 * (time.perf_counter() - wall) / count,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="calls per measure (500)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--pyinstrument", action="store_true", help="call tree of the leads API")
    args = parser.parse_args(argv)

    try:
        database_parts(args.database_url)
        django_setup(args.database_url)
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1

    from django.db import connection, transaction
    from django.test import Client
    from django.utils import timezone

    from leads import classification, services
    from leads.apis import PublicLeadInput
    from leads.models import Lead
    from tracking.models import VisitorSession

    sessions = [str(pk) for pk in VisitorSession.objects.values_list("pk", flat=True)[:2000]]
    if not sessions:
        print("No visitor sessions: run bench/intake.py first.", file=sys.stderr)
        return 1

    def lead_body() -> dict:
        body = dict(sample_bodies(random.choice(sessions))["lead"])
        body["phone"] = random_phone()
        body["departement"] = random.choice(["01", "13", "33", "44", "59", "69", "75", "2A"])
        return body

    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")

    def post(name: str, body: dict) -> None:
        response = client.post(ENDPOINTS[name].path, json.dumps(body), "application/json")
        if response.status_code != 200:
            raise RuntimeError(f"{name}: {response.status_code} {response.content[:200]}")

    def session_body() -> dict:
        body = dict(sample_bodies("")["session"])
        body["visitor_id"] = os.urandom(16).hex()
        return body

    requests = {
        "track/session": lambda: post("session", session_body()),
        "track/event": lambda: post("event", sample_bodies(random.choice(sessions))["event"]),
        "leads": lambda: post("lead", lead_body()),
        "bench/bare": lambda: post("bare", lead_body()),
    }
    n = args.requests
    print(f"Per request, through Django's test client ({n} requests each):")
    print(f"  {'endpoint':<16} {'CPU ms':>7} {'wall ms':>8}")
    for name, fn in requests.items():
        cpu, wall = measure(fn, n)
        print(f"  {name:<16} {cpu:>7.2f} {wall:>8.2f}")

    from enersolar.process_cache import process_caches_clear
    from leads import selectors
    from leads.cleaning import lead_values_clean
    from leads.signals import lead_received
    from tracking.selectors import form_by_code_or_id
    from tracking.services import session_convert

    form = form_by_code_or_id("PV-001")
    # A valid lead of the demo's PV form: the routing dry run decides for it.
    pending = Lead(
        form=form,
        account_id=form.account_id,
        product_type=form.product_type,
        departement="75",
        rgpd_consent=True,
    )

    def transaction_only() -> None:
        # lead_receive's transaction, with the lookups done beforehand.
        lead = Lead(
            register_date=0,
            form=form,
            account_id=form.account_id,
            product_type=form.product_type,
            phone=random_phone(),
            nom="Martin",
            departement="69",
        )
        now = timezone.now()
        with transaction.atomic():
            classification.phone_lock(lead.phone)
            session = session_convert(session_id=uuid.UUID(random.choice(sessions)))
            lead.session_id = session.id
            earlier = classification.earlier_leads(lead.phone, session.id, form.product_type, now)
            classification.lead_classify(lead, form_found=True, earlier=earlier, value_reasons=[])
            lead.save(force_insert=True)

    def bare_insert() -> None:
        Lead.objects.create(status=Lead.Status.ORPHAN, register_date=0, phone=random_phone())

    def cold(fn):
        def run():
            process_caches_clear()
            return fn()

        return run

    steps = {
        "validation, serializer (PublicLeadInput)": lambda: PublicLeadInput(
            data=lead_body()
        ).is_valid(),
        "values, leads.cleaning (what the API runs)": lambda: lead_values_clean(lead_body()),
        "form look-up, cached": lambda: services._form_lookup("PV-001", None),
        "form look-up, cold cache": cold(lambda: services._form_lookup("PV-001", None)),
        "quality tier, cached": lambda: selectors.quality_tier("pv_bench_1"),
        "quality tier, cold cache": cold(lambda: selectors.quality_tier("pv_bench_1")),
        "phone_normalize": lambda: services.phone_normalize(random_phone()),
        "session_convert (UPDATE … RETURNING)": lambda: session_convert(
            session_id=uuid.UUID(random.choice(sessions))
        ),
        "earlier leads (double submit, duplicate)": lambda: classification.earlier_leads(
            random_phone(), uuid.UUID(random.choice(sessions)), form.product_type, timezone.now()
        ),
        "transaction (lock, session, checks, INSERT)": transaction_only,
        "candidate CRM, cached": lambda: services._route_preview(pending),
        "candidate CRM, cold cache": cold(lambda: services._route_preview(pending)),
        "hand-off to delivery (lead_received)": lambda: lead_received.send(
            sender=Lead, lead_id=uuid.uuid4()
        ),
        "lead_receive, whole": lambda: services.lead_receive(data=lead_body(), ip="127.0.0.1"),
        "bare view's INSERT (Lead.objects.create)": bare_insert,
        "one round trip (SELECT 1, raw cursor)": lambda: connection.cursor().execute("SELECT 1"),
    }
    print(f"\nSteps of the lead intake, called on their own ({n} calls each):")
    print(f"  {'step':<44} {'CPU ms':>7} {'wall ms':>8}")
    for name, fn in steps.items():
        cpu, wall = measure(fn, n)
        print(f"  {name:<44} {cpu:>7.2f} {wall:>8.2f}")

    if args.pyinstrument:
        try:
            from pyinstrument import Profiler
        except ImportError:
            print("\npyinstrument is not installed: pip install pyinstrument", file=sys.stderr)
            return 1
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(n):
            requests["leads"]()
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
