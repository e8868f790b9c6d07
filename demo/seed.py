"""Demo data: two buyer CRMs, one account, three forms and four orders.

Idempotent: objects are found by their natural keys and only created when
missing, so a second run changes nothing (except CRM URLs given explicitly).
"""

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from enersolar.models import CRM, Account, AccountRouting, ApiKey, Department, ProductType
from enersolar.roles import ADMIN
from enersolar.services import api_key_create
from routing.models import Order
from tracking.models import Form, LandingPage

DEMO_ACCOUNT = "Démo Solaire"
DEMO_ADMIN = "admin"
DEMO_PARTNER_KEY = "Démo partenaire"


@dataclass
class DemoResult:
    admin_password: str | None = None  # set only when the admin user was created
    partner_key: str | None = None  # set only when the key was created
    created: list[str] = field(default_factory=list)


def sandbox_url(slug: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/sandbox/crm/{slug}/lead/api/create_lead/"


def _demo_key(label: str) -> str:
    return f"demo-{label}-{secrets.token_hex(8)}"


@transaction.atomic
def demo_seed(*, crm_urls: dict[str, str | None]) -> DemoResult:
    result = DemoResult()
    products = {p.code: p for p in ProductType.objects.filter(code__in=["PV", "PAC", "ITE"])}

    crms = {}
    for slug, name in [("zr7", "ZR7 Digital"), ("mdl", "Maison du Lead")]:
        crm, created = CRM.objects.get_or_create(
            slug=slug, defaults={"name": name, "api_url": crm_urls.get(slug) or sandbox_url(slug)}
        )
        if not created and crm_urls.get(slug) and crm.api_url != crm_urls[slug]:
            crm.api_url = crm_urls[slug]
            crm.save(update_fields=["api_url"])
            result.created.append(f"CRM {slug} URL updated")
        if created:
            result.created.append(f"CRM {slug}")
        crms[slug] = crm

    account, created = Account.objects.get_or_create(
        name=DEMO_ACCOUNT,
        defaults={
            "origin_crm": crms["zr7"],
            "redirect_url": f"{settings.PUBLIC_BASE_URL}/merci/",
            "legal_notice": "Démo Solaire SAS — données d'exemple.",
            "privacy_text": "Vos données sont transmises à nos partenaires installateurs.",
        },
    )
    if created:
        result.created.append(f"account {account.name}")
    for product, slug in [("PV", "zr7"), ("PAC", "zr7"), ("ITE", "mdl")]:
        AccountRouting.objects.get_or_create(
            account=account,
            product_type=products[product],
            defaults={"crm": crms[slug], "api_key": _demo_key(f"{slug}-{product.lower()}")},
        )

    for product, lp_name in [("PV", "LP Démo PV"), ("PAC", "LP Démo PAC"), ("ITE", "LP Démo ITE")]:
        landing_page, created = LandingPage.objects.get_or_create(
            account=account,
            name=lp_name,
            defaults={
                "url": f"{settings.PUBLIC_BASE_URL}/demo/{product.lower()}/",
                "traffic_source": "Facebook",
            },
        )
        if created:
            result.created.append(landing_page.code)
        form, created = Form.objects.get_or_create(
            account=account,
            landing_page=landing_page,
            product_type=products[product],
            defaults={
                "name": f"Formulaire {product}",
                "allow_cross_crm": product == "PV",
                "conversion_mode": Form.ConversionMode.BOTH,
                "aid_maprimerenov": Decimal("4000.00") if product != "PV" else None,
                "aid_cee": Decimal("2500.00") if product != "PV" else None,
            },
        )
        if created:
            result.created.append(form.code)

    every_department_but_13 = Department.objects.exclude(code="13")
    orders = [
        ("zr7", "PV", "ZR7 PV France hors 13", Decimal("25.00"), every_department_but_13),
        (
            "mdl",
            "PV",
            "MDL PV Bouches-du-Rhône",
            Decimal("30.00"),
            Department.objects.filter(code="13"),
        ),
        ("zr7", "PAC", "ZR7 PAC France", Decimal("35.00"), None),
        ("mdl", "ITE", "MDL ITE France", Decimal("40.00"), None),
    ]
    for slug, product, name, price, departments in orders:
        order, created = Order.objects.get_or_create(
            crm=crms[slug],
            product_type=products[product],
            name=name,
            defaults={"unit_price": price, "api_key": _demo_key(f"order-{slug}")},
        )
        if created:
            if departments is not None:
                order.departments.set(departments)
            result.created.append(f"order {name}")

    User = get_user_model()
    if not User.objects.filter(username=DEMO_ADMIN).exists():
        result.admin_password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(
            username=DEMO_ADMIN, email="admin@example.com", password=result.admin_password
        )
        user.groups.add(Group.objects.get(name=ADMIN))
        result.created.append(f"user {DEMO_ADMIN}")

    if not ApiKey.objects.filter(
        account=account, name=DEMO_PARTNER_KEY, revoked_at__isnull=True
    ).exists():
        _, result.partner_key = api_key_create(account=account, name=DEMO_PARTNER_KEY)
        result.created.append("partner API key")
    return result
