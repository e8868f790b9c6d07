"""Data builders for the billing tests.

Leads that must go through routing and delivery are created `pending`, as
intake stores them, and handed to the real `lead_deliver`. Leads that only
need to *have been* delivered (balances, statements) get their Delivery row
written directly, as routing would have left it."""

import itertools
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from billing.services import budget_topup
from enersolar.models import CRM
from enersolar.tests.factories import AccountFactory, AccountRoutingFactory, CRMFactory, product
from leads.models import Lead
from routing.models import Delivery, Order
from routing.services.batch import lead_deliver
from routing.tests.factories import OrderFactory

_phones = itertools.count(1)


def lead_make(*, account=None, product_code: str = "PV", departement: str = "75", **fields) -> Lead:
    """A valid lead as intake stores it (status `pending` unless told)."""
    n = next(_phones)
    values = {
        "status": Lead.Status.PENDING,
        "account": account,
        "product_type": product(product_code),
        "departement": departement,
        "phone": f"06{n:08d}",
        "nom": "Martin",
        "prenom": f"Lead {n}",
        "email": f"lead{n}@example.com",
        "register_date": int(timezone.now().timestamp()),
        **fields,
    }
    return Lead.objects.create(**values)


def crm_make(slug: str, *, server=None, **fields) -> CRM:
    """A buyer CRM; with `server`, its API URL points at that local server."""
    if server is not None:
        fields["api_url"] = server.url(slug)
    return CRMFactory(slug=slug, name=slug.upper(), **fields)


def account_make(*, origin: CRM, routed_to: CRM, product_code: str = "PV"):
    """An account whose traffic comes from `origin` and whose leads of the
    product go to `routed_to` (its routing entry, with a key)."""
    account = AccountFactory(origin_crm=origin)
    AccountRoutingFactory(account=account, crm=routed_to, product_type=product(product_code))
    return account


def prepaid_order_make(*, crm: CRM, budget: Decimal | None, unit_price: Decimal, **fields) -> Order:
    """An order of `crm`; with a budget, topped up once through the ledger."""
    order = OrderFactory(crm=crm, unit_price=unit_price, **fields)
    if budget is not None:
        budget_topup(order=order, amount=budget)
        order.refresh_from_db()
    return order


def deliver(lead: Lead) -> str:
    """Route and attempt the lead exactly as the delivery task does."""
    return lead_deliver(lead_id=lead.pk)


def delivered_make(
    *,
    origin: CRM | None,
    target: CRM,
    price: Decimal | str,
    at: datetime,
    state: str = Delivery.State.SUCCESS,
    product_code: str = "PV",
    departement: str = "75",
    order: Order | None = None,
) -> Delivery:
    """A lead already routed to `target` and delivered (or not, per `state`)
    at `at`, its Delivery row as routing and the queue leave it."""
    success = state == Delivery.State.SUCCESS
    lead = lead_make(
        product_code=product_code,
        departement=departement,
        status=Lead.Status.SUCCESS if success else Lead.Status.FAILED,
        created_at=at,
    )
    return Delivery.objects.create(
        lead=lead,
        origin_crm=origin,
        crm=target,
        source=Delivery.Source.ACCOUNT_ROUTING,
        order=order,
        unit_price=Decimal(price),
        routed_at=at,
        state=state,
        attempts=1,
        delivered_at=at if success else None,
    )
