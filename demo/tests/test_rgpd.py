"""The sandbox buyer keeps the payloads it received (names, phones): the RGPD
erasure and purge (legacy.rgpd) reach them through legacy's signals."""

from datetime import timedelta

import pytest
from django.utils import timezone

from demo.models import SandboxBuyer, SandboxReceipt
from leads.tests.factories import LeadFactory
from legacy.rgpd import leads_purge, person_erase

pytestmark = pytest.mark.django_db


def _receipt(buyer, lead, **extra) -> SandboxReceipt:
    return SandboxReceipt.objects.create(
        buyer=buyer,
        request_id=str(lead.pk),
        payload={"phone": lead.phone, "nom": lead.nom},
        status_code=201,
        **extra,
    )


def test_erasing_a_person_deletes_the_receipts_of_their_leads_only():
    buyer = SandboxBuyer.objects.create(slug="zr7")
    erased = LeadFactory(phone="0612345678")
    stranger = LeadFactory(phone="0698765432")
    _receipt(buyer, erased)
    kept = _receipt(buyer, stranger)

    person_erase(phone="06 12 34 56 78")

    assert list(SandboxReceipt.objects.all()) == [kept]


def test_the_purge_deletes_receipts_older_than_the_retention_period():
    buyer = SandboxBuyer.objects.create(slug="zr7")
    lead = LeadFactory()
    _receipt(buyer, lead, received_at=timezone.now() - timedelta(days=4 * 365))
    recent = _receipt(buyer, lead)

    leads_purge(older_than="3y")

    assert list(SandboxReceipt.objects.all()) == [recent]
