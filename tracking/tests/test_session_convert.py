"""session_convert: the lead intake marks a session converted and reads its
attribution in one UPDATE … RETURNING (two statements on an old SQLite)."""

import uuid

import pytest

from tracking import services
from tracking.models import VisitorSession
from tracking.tests.factories import VisitorSessionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "convert",
    [
        lambda pk: services.session_convert(session_id=pk),
        services._session_convert_in_two_statements,
    ],
    ids=["returning", "two_statements"],
)
def test_converts_and_returns_the_attribution(convert):
    session = VisitorSessionFactory(utm_source="facebook", utm_medium="cpc", utm_campaign="spring")
    other = VisitorSessionFactory()

    attribution = convert(session.pk)

    assert attribution == services.SessionAttribution(
        id=session.pk,
        lp_code=session.lp_code,
        liaison_code=session.liaison_code,
        utm_source="facebook",
        utm_medium="cpc",
        utm_campaign="spring",
        landing_page_id=session.landing_page_id,
    )
    statuses = dict(VisitorSession.objects.values_list("pk", "status"))
    assert statuses == {session.pk: "converted", other.pk: "active"}


def test_an_unknown_session_gives_none():
    assert services.session_convert(session_id=uuid.uuid4()) is None
    assert services._session_convert_in_two_statements(uuid.uuid4()) is None
