"""Issue #15: the conversion is one number. The form cards, GET /api/forms,
the form's page and the dashboard agree with a plain Python count over the
sessions, events and leads: finished = started sessions that left an
accepted lead of the form (≤ started), direct = accepted leads whose session
did not start their form, apart."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from enersolar.tests.factories import UserFactory, product
from leads.models import Lead
from leads.tests.factories import LeadFactory, form_finishes
from tests.conversion_by_hand import by_hand
from tracking.models import Form
from tracking.selectors import conversion_rate, forms_with_stats
from tracking.tests.factories import FormFactory, VisitorSessionFactory, form_starts

pytestmark = pytest.mark.django_db
S = Lead.Status


@pytest.fixture
def traffic():
    """Two forms with every kind of visit, one of them reset an hour ago."""
    pv, pac = FormFactory(product_type=product("PV")), FormFactory(product_type=product("PAC"))
    two_hours_ago = timezone.now() - timedelta(hours=2)
    for form in (pv, pac):
        form_starts(form, 3)  # started, left nothing
        form_finishes(form, 2)  # started and finished
        [lead] = form_finishes(form, 1)
        LeadFactory(form=form, session=lead.session, status=S.DOUBLE_SUBMIT)
        [start] = form_starts(form, 1)
        LeadFactory(form=form, session=start.session, status=S.INVALID_PHONE)  # not finished
        LeadFactory(form=form, session=start.session, status=S.DUPLICATE_INTERNAL)
        for _ in range(4):
            LeadFactory(form=form)  # direct: no session
        LeadFactory(form=form, session=VisitorSessionFactory(form=form))  # direct: no start
        LeadFactory(form=form, status=S.MISSING_REQUIRED)  # rejected: neither
        form_finishes(form, 1, created_at=two_hours_ago)
        LeadFactory(form=form, created_at=two_hours_ago)
    # A PV start whose session sent its lead on the PAC form: PAC's lead is direct.
    [start] = form_starts(pv, 1)
    LeadFactory(form=pac, session=start.session)
    pac.stats_reset_at = timezone.now() - timedelta(hours=1)
    pac.save()
    return {"pv": pv, "pac": pac}


def card_numbers(page: str, form: Form) -> tuple[int, int, int, str]:
    card = re.search(rf'data-form-id="{form.pk}".*?</article>', page, re.S).group(0)

    def stat(name):
        return re.search(rf'class="rdz-{name}">([^<]*)<', card).group(1).strip()

    return int(stat("started")), int(stat("finished")), int(stat("direct")), stat("conversion")


def test_cards_api_and_form_page_agree_with_a_python_count(client, traffic):
    client.force_login(UserFactory(is_superuser=True))
    expected = {form.code: by_hand(form) for form in traffic.values()}
    assert expected["PV-001"] == (9, 4, 6)
    assert expected["PAC-001"] == (7, 3, 6)  # since its reset; the PV visitor's lead is direct

    annotated = {f.code: (f.started, f.finished, f.direct) for f in forms_with_stats()}
    api = {
        row["code"]: (row["stats"]["started"], row["stats"]["finished"], row["stats"]["direct"])
        for row in client.get("/api/forms").json()["results"]
    }
    page = client.get(reverse("admin:tracking_form_changelist")).content.decode()
    cards = {form.code: card_numbers(page, form)[:3] for form in traffic.values()}

    assert annotated == api == cards == expected
    for form in traffic.values():
        started, finished, _ = expected[form.code]
        rate = conversion_rate(started=started, finished=finished)
        assert rate <= 100
        assert card_numbers(page, form)[3] == f"{rate} %".replace(".", ",")
        form_page = client.get(reverse("admin:tracking_form_change", args=[form.pk]))
        assert re.search(rf'class="rdz-finished">{finished}<', form_page.content.decode())
        assert re.search(
            rf'class="rdz-direct">{expected[form.code][2]}<', form_page.content.decode()
        )


def test_the_dashboard_agrees_with_a_python_count(client, traffic):
    client.force_login(UserFactory(is_superuser=True))
    week_ago = timezone.now() - timedelta(days=6, hours=23)
    counted = [by_hand(form, since=week_ago) for form in traffic.values()]
    started, finished, direct = (sum(column) for column in zip(*counted, strict=True))

    widget = client.get(reverse("admin:index")).context["dashboard"]["leads"]

    week = widget["conversion"][1]
    assert (week["started"], week["finished"], week["direct"]) == (started, finished, direct)
    assert week["rate"] == conversion_rate(started=started, finished=finished) <= 100
