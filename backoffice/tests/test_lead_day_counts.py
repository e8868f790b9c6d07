"""The dashboard's stored counts (issue 15 point 7): the week's numbers read
from LeadDayCount / FormStartDayCount plus the leads and form starts since,
counted live, are the numbers of the live queries over the leads and events."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from backoffice.models import FormStartDayCount, LeadDayCount
from backoffice.selectors import form_starts, form_starts_live, lead_days, lead_days_live
from backoffice.services import COMMIT_MARGIN, lead_day_counts_refresh
from backoffice.tasks import refresh_lead_day_counts
from enersolar.beat import JOBS
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from routing.models import Delivery, DeliveryTotals
from routing.selectors import queue_stats_live

from .conftest import NOW, paris

pytestmark = pytest.mark.django_db
S = Lead.Status


@pytest.fixture
def week(shop, frozen):
    """Leads on four days of the week, every status group, both CRMs, not
    routed, one without a form and one double submit (not "direct"), and one
    8 days ago (outside the week); form starts, two of them finished (their
    session left a lead), one of those by a lead of the next day."""
    statuses = [S.SUCCESS, S.QUEUED, S.FAILED, S.RETURNED, S.DUPLICATE, S.INVALID_PHONE]
    for offset in (0, 1, 3, 6):
        for n, status in enumerate(statuses):
            routed = status != S.INVALID_PHONE
            shop.lead(
                at=NOW - timedelta(days=offset, hours=n),
                status=status,
                crm=[shop.zr7, shop.mdl][n % 2] if routed else None,
            )
    shop.lead(at=NOW - timedelta(hours=2), status=S.DOUBLE_SUBMIT)
    formless = shop.lead(at=NOW - timedelta(days=1, hours=3), status=S.ORPHAN)
    Lead.objects.filter(pk=formless.pk).update(form=None)
    shop.lead(at=paris(2026, 3, 9, 23, 30), crm=shop.zr7)  # yesterday in UTC, today in Paris
    shop.lead(at=NOW - timedelta(days=8), crm=shop.zr7)
    starts = [
        shop.form_start(at=NOW - timedelta(days=offset, hours=1)) for offset in (0, 0, 2, 6, 8)
    ]
    shop.lead(at=NOW - timedelta(minutes=50), session=starts[0].session, crm=shop.zr7)
    shop.lead(at=NOW - timedelta(days=1, hours=12), session=starts[2].session, crm=shop.mdl)
    return shop


def assert_same_as_live(now):
    shown, live = lead_days(now=now), lead_days_live(now=now)
    assert shown.days == live.days
    assert shown.counts == live.counts
    assert shown.cross_crm == live.cross_crm
    assert form_starts(now=now) == form_starts_live(now=now)
    return shown


def test_without_stored_counts_everything_is_counted_live(week):
    assert not LeadDayCount.objects.exists()

    shown = assert_same_as_live(NOW)

    assert shown.total() == 4 * 6 + 3 + 2
    starts = form_starts(now=NOW)
    assert (starts.period, starts.finished_period, starts.finished_today) == (4, 2, 1)
    # Direct: the week's accepted leads of a form, but the two in started sessions.
    assert starts.direct_period == shown.total() - 2 - 4 - 2


def test_stored_counts_plus_new_leads_are_the_live_numbers(week):
    stored = lead_day_counts_refresh(now=NOW)

    assert stored == LeadDayCount.objects.count() > 0
    assert set(LeadDayCount.objects.values_list("counted_until", flat=True)) == {
        NOW - COMMIT_MARGIN
    }
    assert FormStartDayCount.objects.count() == 5  # days with starts (3) or direct leads (4)
    assert_same_as_live(NOW)
    assert form_starts(now=NOW).period == 4

    # New leads and form starts after the refresh, within the commit margin and later: counted
    # live at once, no refresh needed.
    later = NOW + timedelta(minutes=5)
    week.lead(at=NOW - timedelta(seconds=10), crm=week.mdl)
    week.lead(at=NOW + timedelta(minutes=2), status=S.QUEUED, crm=week.zr7)
    week.lead(at=NOW + timedelta(minutes=3), status=S.INVALID_PHONE)
    week.form_start(at=NOW + timedelta(minutes=1))
    with time_machine.travel(later, tick=False):
        shown = assert_same_as_live(later)
    assert shown.total() == 4 * 6 + 3 + 2 + 3
    assert form_starts(now=later).period == 5


def test_cross_crm_leads_stored_plus_new_are_the_live_count(week):
    """The cross-CRM fact is one more dimension of the stored counts: MDL
    leads of the ZR7 account are cross-CRM; an MDL-origin lead sent home is
    not, one sent to ZR7 is; whatever the lead's status."""
    lead_day_counts_refresh(now=NOW)

    assert LeadDayCount.objects.filter(cross_crm=True).exists()
    shown = assert_same_as_live(NOW)
    # Two MDL leads on each of the four days, and the finished start's of yesterday.
    assert shown.cross_crm_total() == 4 * 2 + 1
    assert shown.cross_crm_total(shown.today) == 2

    week.lead(at=NOW - timedelta(seconds=10), crm=week.mdl, origin=week.mdl)  # home: not
    week.lead(at=NOW + timedelta(minutes=1), status=S.QUEUED, crm=week.zr7, origin=week.mdl)
    week.lead(at=NOW + timedelta(minutes=2), status=S.FAILED, crm=week.mdl)
    later = NOW + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        shown = assert_same_as_live(later)
    assert shown.cross_crm_total(shown.today) == 2 + 2


def test_a_status_change_of_an_older_lead_shows_after_the_next_refresh(week):
    lead_day_counts_refresh(now=NOW)
    queued = Lead.objects.filter(status=S.QUEUED).order_by("created_at").first()
    day = queued.created_at.astimezone(paris(2026, 1, 1).tzinfo).date()
    crm = queued.delivery.crm.name

    Lead.objects.filter(pk=queued.pk).update(status=S.SUCCESS)

    # The stored counts are what the dashboard read: the change is not in yet.
    assert lead_days(now=NOW).counts[day, S.QUEUED, crm] == 1
    assert (day, S.QUEUED, crm) not in lead_days_live(now=NOW).counts
    lead_day_counts_refresh(now=NOW + timedelta(minutes=1))
    assert_same_as_live(NOW + timedelta(minutes=1))


def test_counts_stored_yesterday_serve_today(week):
    """After midnight (Paris), the days that left the week are ignored and
    today's leads so far are counted live."""
    lead_day_counts_refresh(now=NOW)
    tomorrow = NOW + timedelta(days=1)
    week.lead(at=tomorrow - timedelta(hours=1), crm=week.mdl)
    week.form_start(at=tomorrow - timedelta(hours=2))

    with time_machine.travel(tomorrow, tick=False):
        shown = assert_same_as_live(tomorrow)
    assert shown.total(shown.today) == 1


def test_counts_older_than_the_week_are_not_used(week):
    lead_day_counts_refresh(now=NOW - timedelta(days=10))
    LeadDayCount.objects.update(leads=1000)  # would show if they were read
    FormStartDayCount.objects.update(starts=1000)

    assert_same_as_live(NOW)


def test_the_dashboard_shows_the_live_numbers(client, week):
    lead_day_counts_refresh(now=NOW)
    week.lead(at=NOW - timedelta(seconds=5), status=S.QUEUED, crm=week.zr7)
    client.force_login(UserFactory(username="boss", is_superuser=True))

    leads = client.get(reverse("admin:dashboard_widgets")).context["dashboard"]["leads"]

    live = lead_days_live(now=NOW)
    assert leads["week_total"] == live.total() == 4 * 6 + 3 + 2 + 1
    assert leads["today_total"] == live.total(live.today)
    assert leads["week_cross_crm"] == live.cross_crm_total() == 4 * 2 + 1
    assert leads["today_cross_crm"] == live.cross_crm_total(live.today)
    starts = form_starts_live(now=NOW)
    assert [row["started"] for row in leads["conversion"]] == [starts.today, starts.period]
    assert [row["finished"] for row in leads["conversion"]] == [
        starts.finished_today,
        starts.finished_period,
    ]
    assert [row["direct"] for row in leads["conversion"]] == [
        starts.direct_today,
        starts.direct_period,
    ]


def test_the_queue_widget_shows_the_live_numbers(client, week):
    """Its stored totals plus the changes since (routing/tests/test_queue_totals.py
    goes through the real delivery paths)."""
    lead_day_counts_refresh(now=NOW)
    assert DeliveryTotals.objects.get().counted_until == NOW - COMMIT_MARGIN
    queued = Delivery.objects.filter(state=Delivery.State.PENDING).order_by("routed_at").first()
    Delivery.objects.filter(pk=queued.pk).update(state=Delivery.State.SUCCESS, delivered_at=NOW)
    week.lead(at=NOW - timedelta(seconds=5), status=S.QUEUED, crm=week.zr7)
    client.force_login(UserFactory(username="boss", is_superuser=True))

    queue = client.get(reverse("admin:dashboard_widgets")).context["dashboard"]["queue"]

    live = queue_stats_live()
    assert {row["state"]: row["n"] for row in queue["counts"]} == {
        state: live.counts[state] for state in Delivery.State.values
    }
    # Routed: 5 a day on four days, the two leads of started sessions, the one
    # of 23:30 Paris, the one of 8 days ago (the queue has no week), the new one.
    assert queue["total"] == live.counts["total"] == 4 * 5 + 2 + 2 + 1
    assert queue["oldest_routed_at"] == live.oldest_pending_routed_at


def test_beat_runs_the_refresh_every_minute(week):
    assert ("refresh-lead-day-counts", "backoffice.tasks.refresh_lead_day_counts", "60") in JOBS

    refresh_lead_day_counts()

    assert LeadDayCount.objects.filter(counted_until=NOW - COMMIT_MARGIN).exists()
    assert_same_as_live(NOW)
