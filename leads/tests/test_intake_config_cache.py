"""The intake reads forms, routing entries and quality mappings from a
per-process cache: an edit saved in this process counts at once, one made by
another process within CONFIG_CACHE_SECONDS, and a form deleted meanwhile never
costs a lead."""

import pytest
from django.db import connection

from enersolar import process_cache
from enersolar.models import AccountRouting, QualityMapping
from enersolar.tests.factories import AccountRoutingFactory, CRMFactory
from enersolar.tests.helpers import public_client
from leads.models import Lead
from tracking.selectors import form_by_code_or_id
from tracking.tests.factories import FormFactory, VisitorSessionFactory

URL = "/api/public/leads"


@pytest.fixture
def form():
    form = FormFactory()
    AccountRoutingFactory(
        account=form.account,
        product_type=form.product_type,
        crm=CRMFactory(slug="zr7", only_ordered_leads=False),
    )
    return form


def submit(form, phone, **extra):
    session = VisitorSessionFactory(form=form, utm_campaign="spring")
    body = {
        "session_id": str(session.pk),
        "form_code": form.code,
        "phone": phone,
        "nom": "Dupont",
        "departement": "75",
        **extra,
    }
    response = public_client().post(URL, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_a_routing_change_saved_here_applies_to_the_next_lead(form):
    assert submit(form, "0645127836")["crm"] == "zr7"

    routing = AccountRouting.objects.get(account=form.account)
    routing.crm = CRMFactory(slug="mdl", only_ordered_leads=False)
    routing.save()

    assert submit(form, "0745129836")["crm"] == "mdl"


@pytest.mark.django_db
def test_a_quality_mapping_added_here_applies_to_the_next_lead(form):
    first = submit(form, "0645127836")
    QualityMapping.objects.create(utm_campaign="spring", quality_tier="A")
    second = submit(form, "0745129836")

    assert Lead.objects.get(pk=first["lead_id"]).quality_tier == ""
    assert Lead.objects.get(pk=second["lead_id"]).quality_tier == "A"


@pytest.mark.django_db
def test_another_process_edit_is_seen_once_the_cache_expires(form, monkeypatch, settings):
    clock = [1000.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: clock[0])
    first = submit(form, "0645127836")
    # Another process's edit: no signal reaches this one.
    QualityMapping.objects.bulk_create([QualityMapping(utm_campaign="spring", quality_tier="A")])

    clock[0] += settings.CONFIG_CACHE_SECONDS - 1
    still_cached = submit(form, "0745129836")
    clock[0] += 2
    expired = submit(form, "0658271934")

    tiers = [Lead.objects.get(pk=a["lead_id"]).quality_tier for a in (first, still_cached, expired)]
    assert tiers == ["", "", "A"]


@pytest.mark.django_db
def test_cached_configuration_saves_the_lookups_on_later_leads(form, django_assert_max_num_queries):
    QualityMapping.objects.create(utm_campaign="spring", quality_tier="B")
    submit(form, "0645127836")
    session = VisitorSessionFactory(form=form, utm_campaign="spring")
    body = {"session_id": str(session.pk), "form_code": form.code, "phone": "0745129836"}
    body |= {"nom": "Martin", "departement": "69"}

    # (savepoint,) phone lock, session UPDATE … RETURNING, earlier leads,
    # INSERT, (release): no look-up of the form, routing or quality tier.
    with django_assert_max_num_queries(6):
        response = public_client().post(URL, body, format="json")

    assert response.json()["status"] == "pending"
    assert Lead.objects.get(pk=response.json()["lead_id"]).quality_tier == "B"


@pytest.mark.django_db(transaction=True)
def test_a_form_deleted_by_another_process_still_stores_the_lead():
    form = FormFactory()
    assert form_by_code_or_id(form.code) == form  # now cached in this process
    # Deleted elsewhere: no signal here, and the cache still holds it.
    with connection.cursor() as cursor:
        # As Django's delete does it there: the landing page stops serving it (SET_NULL).
        cursor.execute(
            "UPDATE tracking_landingpage SET form_id = NULL WHERE form_id = %s", [form.pk]
        )
        cursor.execute("DELETE FROM tracking_form WHERE id = %s", [form.pk])

    answer = submit_without_session(form.code)

    assert answer["status"] == "orphan"
    assert Lead.objects.get(pk=answer["lead_id"]).reasons == ["FORM_NOT_FOUND"]


def submit_without_session(form_code):
    body = {"session_id": "none", "form_code": form_code, "phone": "0645127836", "nom": "Dupont"}
    response = public_client().post(URL, body | {"departement": "75"}, format="json")
    assert response.status_code == 200, response.content
    return response.json()
