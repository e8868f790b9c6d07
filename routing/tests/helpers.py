"""Setups and stand-ins the routing tests share."""

from dataclasses import dataclass
from datetime import datetime

from enersolar.models import CRM, Account, AccountRouting
from enersolar.tests.factories import AccountFactory, AccountRoutingFactory, CRMFactory, product
from leads.tests.factories import LeadFactory
from routing.models import Order
from routing.tasks import deliver_leads
from tracking.models import Form
from tracking.tests.factories import FormFactory, LandingPageFactory

from .factories import OrderFactory


@dataclass
class World:
    """One buyer CRM, one account routed to it, one form, one open order."""

    crm: CRM
    account: Account
    routing: AccountRouting
    form: Form
    order: Order | None

    def lead(self, **fields):
        return LeadFactory(form=self.form, **fields)


def make_world(
    api_url: str,
    *,
    slug: str = "zr7",
    key: str = "zr7-secret-key-4242",
    product_code: str = "PV",
    order: bool = True,
    order_fields: dict | None = None,
    **form_fields,
) -> World:
    crm = CRMFactory(slug=slug, name=slug.upper(), api_url=api_url)
    account = AccountFactory(origin_crm=crm)
    routing = AccountRoutingFactory(
        account=account, product_type=product(product_code), crm=crm, api_key=key
    )
    form = FormFactory(
        account=account,
        landing_page=LandingPageFactory(account=account),
        product_type=product(product_code),
        **form_fields,
    )
    the_order = (
        OrderFactory(crm=crm, product_type=product(product_code), **(order_fields or {}))
        if order
        else None
    )
    return World(crm, account, routing, form, the_order)


def deliver_now(ids, claim: datetime | None) -> None:
    """A queue run's hand-off done the way a worker does it (the body of the
    deliver_leads task), synchronously."""
    deliver_leads.run([str(i) for i in ids], claim.isoformat() if claim else None)
