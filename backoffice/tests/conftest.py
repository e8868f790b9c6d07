from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from enersolar.tests.factories import AccountFactory, CRMFactory, product
from leads.models import Lead
from leads.tests.factories import LeadFactory
from routing.models import Delivery
from routing.tests.factories import DeliveryFactory
from tracking.tests.factories import (
    FormFactory,
    LandingPageFactory,
    form_starts,
)

PARIS = ZoneInfo("Europe/Paris")
# 10:00 in Paris (09:00 UTC): "today" began at 23:00 UTC the day before.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=PARIS)


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


class Shop:
    """Two buyer CRMs (ZR7, MDL), one account whose origin is ZR7, forms per product."""

    def __init__(self):
        self.zr7 = CRMFactory(slug="zr7", name="ZR7")
        self.mdl = CRMFactory(slug="mdl", name="MDL")
        self.account = AccountFactory(origin_crm=self.zr7)
        self.mdl_account = AccountFactory(origin_crm=self.mdl)
        landing_page = LandingPageFactory(account=self.account)
        self.forms = {
            code: FormFactory(
                account=self.account, landing_page=landing_page, product_type=product(code)
            )
            for code in ("PV", "PAC", "ITE")
        }

    def lead(
        self,
        *,
        at,
        status=Lead.Status.SUCCESS,
        crm=None,
        origin=None,
        product="PV",
        state=None,
        **fields,
    ):
        """A lead created at `at`, of the ZR7 account unless `origin` is MDL;
        routed to `crm` (a Delivery) when given."""
        account = self.mdl_account if origin == self.mdl else self.account
        lead = LeadFactory(
            form=self.forms[product], account=account, created_at=at, status=status, **fields
        )
        if crm is not None:
            DeliveryFactory(
                lead=lead,
                crm=crm,
                origin_crm=origin or self.zr7,
                state=state or _state_of(status),
            )
        return lead

    def form_start(self, *, at):
        return form_starts(self.forms["PV"], created_at=at)[0]


def _state_of(status: str) -> str:
    return {
        Lead.Status.SUCCESS: Delivery.State.SUCCESS,
        Lead.Status.RETURNED: Delivery.State.SUCCESS,
        Lead.Status.QUEUED: Delivery.State.PENDING,
        Lead.Status.PENDING: Delivery.State.PENDING,
    }.get(status, Delivery.State.FAILED)


@pytest.fixture
def shop(db):
    return Shop()
