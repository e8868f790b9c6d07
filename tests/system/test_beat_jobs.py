"""Beat fires the nightly verification, the budget check and the monthly
statements on their schedule (every 10 s here, through their BEAT_* settings),
seen from their effects in the database."""

from datetime import UTC, datetime, timedelta

import pytest

from .harness import wait_for
from .leads import LandingPage, wait_delivered

pytestmark = pytest.mark.system

JOB_PERIOD = 10  # harness.TIMINGS


def test_beat_runs_the_nightly_verification(system):
    def reports_by_beat():
        return system.db.rows(
            "SELECT COUNT(*) FROM routing_verificationreport WHERE triggered_by = 'beat'"
        )[0][0]

    seen = reports_by_beat()
    wait_for(lambda: reports_by_beat() > seen, timeout=3 * JOB_PERIOD, what="a verification")


def test_beat_checks_the_prepaid_budgets(system):
    # The ITE order, topped up once, has less left than one lead costs.
    system.db.rows(
        "UPDATE routing_order SET prepaid_total = 100, prepaid_balance = 5 "
        "WHERE name = 'MDL ITE France'"
    )

    def alert_level():
        found = system.db.rows(
            "SELECT a.level FROM billing_budgetalert a JOIN routing_order o ON o.id = a.order_id "
            "WHERE o.name = 'MDL ITE France'"
        )
        return found[0][0] if found else None

    assert wait_for(
        lambda: alert_level() == "depleted", timeout=3 * JOB_PERIOD, what="a budget alert"
    )


def test_beat_issues_last_month_s_statements(system):
    # A department-13 PV lead of a zr7 account goes to mdl: mdl owes zr7.
    [lead_id] = LandingPage(system).leads(1, code_postal="13001")
    wait_delivered(system, [lead_id], timeout=60)
    first_of_month = datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    last_month = first_of_month - timedelta(days=15)
    system.db.rows(
        "UPDATE routing_delivery SET delivered_at = %s WHERE lead_id = %s",
        [system.db.datetime_param(last_month), system.db.uuid_param(lead_id)],
    )

    def statements():
        return system.db.rows(
            "SELECT s.number FROM billing_statement s JOIN billing_statementline l "
            "ON l.statement_id = s.id WHERE l.lead_id = %s",
            [system.db.uuid_param(lead_id)],
        )

    [(number,)] = wait_for(statements, timeout=3 * JOB_PERIOD, what="last month's statement")
    assert number.startswith(f"RC-{last_month:%Y%m}-")
