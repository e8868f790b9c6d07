"""The data the permission matrix runs on: the demo (seed_demo's objects and
buyer keys) plus one object of every model the admin shows, and one user
per role. Every buyer key of it is in `World.keys`: no page, export or API
answer may show one in clear."""

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.authtoken.models import Token

from demo.models import SandboxBuyer, SandboxReceipt
from demo.seed import demo_seed
from enersolar.destinations import destination_change_record
from enersolar.models import CRM, Account, AccountRouting, ActivityLog, QualityMapping
from enersolar.roles import ADMIN, EDITOR, VIEWER
from enersolar.services import journal_record
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from routing.models import (
    CRMHealth,
    DefaultPrice,
    Delivery,
    DeliveryAttempt,
    Order,
    VerificationReport,
)
from tracking.models import Form, TrackingEvent, VisitorSession

OVERRIDE_KEY = "demo-override-key-5f1e9a3b7c2d"
ROLES = ("anonymous", "partner", "viewer", "editor", "admin")


@dataclass
class World:
    partner_key: str
    users: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)  # model label → one object
    keys: list = field(default_factory=list)
    lead: Lead | None = None
    form: Form | None = None
    statement_pk: int | None = None


def world_build() -> World:
    result = demo_seed(crm_urls={})
    world = World(partner_key=result.partner_key)
    account = Account.objects.get(name="Démo Solaire")
    zr7, mdl = CRM.objects.get(slug="zr7"), CRM.objects.get(slug="mdl")

    # A form with a CRM override key (the demo has none).
    world.form = Form.objects.get(code="PV-001")
    world.form.crm_override = mdl
    world.form.crm_override_api_key = OVERRIDE_KEY
    world.form.save()

    world.users = {
        "viewer": UserFactory(username="m-viewer", role=VIEWER),
        "editor": UserFactory(username="m-editor", role=EDITOR),
        "admin": UserFactory(username="m-admin", role=ADMIN),
    }
    admin = world.users["admin"]
    Token.objects.create(user=admin)

    now = timezone.now()
    session = VisitorSession.objects.create(lp_code="LP-001", form_code="PV-001")
    TrackingEvent.objects.create(session=session, event_type="lp_visit", lp_code="LP-001")
    lead = Lead.objects.create(
        status=Lead.Status.SUCCESS,
        register_date=int(now.timestamp()),
        form=world.form,
        form_code="PV-001",
        account=account,
        product_type=world.form.product_type,
        landing_page=world.form.landing_page,
        phone="0612345678",
        nom="Martin",
        prenom="Léa",
        departement="75",
        code_postal="75011",
    )
    world.lead = lead
    Lead.objects.create(
        status=Lead.Status.INVALID_PHONE, register_date=int(now.timestamp()), phone_raw="012"
    )
    order = Order.objects.filter(crm=zr7).first()
    delivery = Delivery.objects.create(
        lead=lead,
        origin_crm=zr7,
        crm=zr7,
        source=Delivery.Source.ACCOUNT_ROUTING,
        order=order,
        unit_price=order.unit_price,
        routed_at=now,
        state=Delivery.State.SUCCESS,
        delivered_at=now,
    )
    DeliveryAttempt.objects.create(
        delivery=delivery, crm=zr7, http_status=201, duration_ms=12, outcome="success"
    )
    QualityMapping.objects.create(utm_campaign="printemps", quality_tier="A")
    CRMHealth.objects.create(crm=zr7)
    DefaultPrice.objects.create(crm=zr7, product_type=lead.product_type, unit_price=Decimal(20))
    VerificationReport.objects.create(window_start=now - timedelta(days=1), window_end=now)
    buyer = SandboxBuyer.objects.create(slug="zr7")
    SandboxReceipt.objects.create(buyer=buyer, request_id=str(uuid.uuid4()), status_code=201)
    world.statement_pk = _billing(lead=lead, order=order, admin=admin)
    _legacy(lead=lead, admin=admin)

    # Journal entries of destination changes (masked) and of an ordinary edit.
    routing = AccountRouting.objects.filter(account=account).first()
    destination_change_record(
        user=admin,
        obj=routing,
        changes=[{"field": "api_key", "old": "••••0000", "new": routing.api_key_masked}],
    )
    journal_record(user=admin, action=ActivityLog.Action.UPDATE, obj=account)
    # The axes tables: one failed login.
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    AccessAttempt.objects.create(username="x", ip_address="192.0.2.1", failures_since_start=1)
    AccessFailureLog.objects.create(username="x", ip_address="192.0.2.1")
    AccessLog.objects.create(username="m-admin", ip_address="192.0.2.2")

    world.keys = [
        *AccountRouting.objects.exclude(api_key="").values_list("api_key", flat=True),
        *Order.objects.exclude(api_key="").values_list("api_key", flat=True),
        OVERRIDE_KEY,
    ]
    assert len(world.keys) == 3 + 4 + 1
    return world


def _billing(*, lead, order, admin) -> int:
    from billing.models import BudgetTransaction, LeadReturn, Statement, StatementLine

    statement = Statement.objects.create(
        number="REL-2025-01-zr7-mdl",
        period=date(2025, 1, 1),
        creditor=lead.account.origin_crm,
        debtor=CRM.objects.get(slug="mdl"),
    )
    StatementLine.objects.create(
        statement=statement,
        kind="charge",
        lead=lead,
        delivered_at=timezone.now(),
        product="PV",
        departement="75",
        amount=Decimal("25.00"),
    )
    BudgetTransaction.objects.create(
        order=order, kind="topup", amount=Decimal("100.00"), created_by=admin
    )
    LeadReturn.objects.create(lead=lead, reason="Faux numéro", returned_by=admin)
    return statement.pk


def _legacy(*, lead, admin) -> None:
    from django.contrib.contenttypes.models import ContentType

    from legacy.models import ImportBatch, LegacyRecord, MiniAnalysis

    batch = ImportBatch.objects.create(name="batch-1", user=admin)
    MiniAnalysis.objects.create(
        lead=lead, mini_analysis_id="ma-1", status=MiniAnalysis.Status.GENERATED, batch=batch
    )
    LegacyRecord.objects.create(
        batch=batch,
        collection="leads",
        legacy_id="abc",
        content_type=ContentType.objects.get_for_model(Lead),
        object_id=str(lead.pk),
    )


def group_of(role: str) -> Group | None:
    return Group.objects.filter(name=role.capitalize()).first()
