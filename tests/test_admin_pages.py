"""Every admin page a staff member can open renders, in French by default."""

import html
from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from billing.models import Statement, StatementLine
from billing.services import budget_topup, lead_return
from demo.models import SandboxBuyer, SandboxReceipt
from enersolar.models import QualityMapping
from enersolar.tests.factories import UserFactory
from leads.services import lead_receive
from leads.tests.factories import LeadFactory
from legacy.models import ImportBatch, LegacyRecord, MiniAnalysis
from routing.models import (
    CRMHealth,
    DefaultPrice,
    Delivery,
    Order,
)
from routing.services.decide import lead_route
from routing.services.send import AttemptResult, attempt_build
from routing.services.verification import verification_run
from tracking.services import event_record, session_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    """The demo data plus one object of every kind the admin shows, made by
    the services that make them in real life (no HTTP to a buyer)."""
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    QualityMapping.objects.create(utm_campaign="printemps", quality_tier="A")
    session, _ = session_start(
        visitor_id="v1", data={"lp_code": "LP-001"}, ip=None, user_agent="test"
    )
    event_record(session=session, event_type="lp_visit", data={}, ip=None, user_agent="test")
    lead = lead_receive(
        data={
            "session_id": str(session.pk),
            "form_code": "PV-001",
            "phone": "0612345678",
            "nom": "Martin",
            "departement": "75",
            "utm_campaign": "printemps",
        },
        ip="127.0.0.1",
    ).lead
    lead_receive(  # a rejected one too: the page of rejected leads shows it
        data={"session_id": str(session.pk), "form_code": "PV-001", "phone": "12", "nom": "X"},
        ip="127.0.0.1",
    )
    delivery = lead_route(lead=lead)
    attempt_build(
        delivery=delivery, result=AttemptResult("success", 201, "{}", "", 12), at=timezone.now()
    ).save()
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(state="success", delivered_at=now)
    lead.status = "success"
    lead.save(update_fields=["status"])
    lead_return(lead=lead, reason="faux numéro")
    order = Order.objects.first()
    budget_topup(order=order, amount=Decimal("100"))
    DefaultPrice.objects.create(
        crm=order.crm, product_type=order.product_type, unit_price=Decimal("20")
    )
    CRMHealth.objects.create(crm=order.crm)
    buyer = SandboxBuyer.objects.create(slug="zr7")
    SandboxReceipt.objects.create(buyer=buyer, request_id=str(lead.pk), status_code=201)
    verification_run(triggered_by="test")
    statement = Statement.objects.create(
        number="RC-TEST-1",
        period=date(2026, 1, 1),
        creditor=order.crm,
        debtor=delivery.crm,
        total=0,
    )
    StatementLine.objects.create(
        statement=statement,
        kind="charge",
        lead=lead,
        delivered_at=now,
        product="PV",
        departement="75",
        amount=Decimal("25"),
    )
    batch = ImportBatch.objects.create(name="legacy-1", counts={"leads": {"total": 1}})
    LegacyRecord.objects.create(
        collection="leads",
        legacy_id=str(lead.pk),
        content_type=ContentType.objects.get_for_model(lead),
        object_id=str(lead.pk),
        batch=batch,
        extra={"crm_response": {"code": 201}},
    )
    MiniAnalysis.objects.create(
        lead=LeadFactory(status="no_crm"),
        mini_analysis_id="65f0c0ffee0000000000abcd",
        status="GENERATED",
        brand_name="Marque",
        pdf_url="https://cdn.example.com/mini/1.pdf",
        analysis_text="Premier aperçu",
        batch=batch,
    )
    boss = UserFactory(username="boss", is_superuser=True)
    Token.objects.create(user=boss)
    client.post("/admin/login/", {"username": "boss", "password": "wrong"})  # an axes attempt
    client.force_login(boss)
    return client


def _models():
    return sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.mark.parametrize("model", _models(), ids=lambda m: m._meta.label_lower)
def test_changelist_renders(superuser_client, model):
    opts = model._meta
    response = superuser_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200


@pytest.mark.parametrize("model", _models(), ids=lambda m: m._meta.label_lower)
def test_first_object_page_renders(superuser_client, model):
    obj = model._default_manager.first()
    assert obj is not None, f"the fixture makes no {model._meta.label}"
    opts = model._meta
    response = superuser_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    )
    assert response.status_code == 200


def test_admin_index_lists_our_models_in_french(superuser_client):
    page = html.unescape(superuser_client.get(reverse("admin:index")).content.decode())
    for label in (
        "Comptes",
        "Formulaires",
        "Landing pages",
        "Commandes",
        "Leads",
        "File de livraison",
        "Relevés",
        "Journal d'activité",
        "Clés API partenaires",
    ):
        assert label in page, label


def test_english_is_available(superuser_client):
    html = superuser_client.get(reverse("admin:index"), headers={"accept-language": "en"})
    assert "Accounts" in html.content.decode()
