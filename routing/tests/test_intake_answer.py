"""The intake's answer names the CRM the routing decision itself would choose
(a read-only dry run of routing.services.decide.route_decide), so `crm` in the
answer is where the lead is delivered when nothing changes in between."""

from io import StringIO

import pytest
from django.core.management import call_command

from enersolar.tests.helpers import public_client
from leads.models import Lead
from routing.models import Delivery
from tests.buyer import buyer  # noqa: F401 - fixture
from tracking.models import Form
from tracking.tests.factories import VisitorSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(buyer):  # noqa: F811
    urls = ["--crm-url-zr7", buyer.url("zr7"), "--crm-url-mdl", buyer.url("mdl")]
    call_command("seed_demo", *urls, stdout=StringIO())
    return buyer


def body_of(departement: str, phone: str, form_code: str = "PV-001") -> dict:
    session = VisitorSessionFactory(form=Form.objects.get(code=form_code))
    body = {"session_id": str(session.pk), "form_code": form_code, "phone": phone}
    return body | {"nom": "Dupont", "departement": departement}


def submit(departement: str, phone: str, form_code: str = "PV-001") -> dict:
    return post(body_of(departement, phone, form_code))


def post(body: dict) -> dict:
    response = public_client().post("/api/public/leads", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_department_13_pv_lead_answers_mdl_and_is_delivered_to_mdl(
    demo, django_capture_on_commit_callbacks
):
    # zr7 (the account's routing for PV) has no order for the 13; the PV
    # form allows cross-CRM, and mdl's PV order covers the 13.
    with django_capture_on_commit_callbacks(execute=True):
        answer = submit("13", "0612345678")

    assert (answer["status"], answer["crm"]) == ("pending", "mdl")
    delivery = Delivery.objects.select_related("crm").get(pk=answer["lead_id"])
    assert (delivery.crm.slug, delivery.source) == ("mdl", Delivery.Source.CROSS_CRM)
    assert Lead.objects.get(pk=answer["lead_id"]).status == Lead.Status.SUCCESS
    assert [r.idempotency_key for r in demo.requests_for("mdl")] == [answer["lead_id"]]
    assert demo.requests_for("zr7") == []


def test_a_pv_lead_elsewhere_answers_zr7_and_is_delivered_to_zr7(
    demo, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        answer = submit("75", "0612345679")

    assert answer["crm"] == "zr7"
    assert Delivery.objects.get(pk=answer["lead_id"]).crm.slug == "zr7"
    assert len(demo.requests_for("zr7")) == 1


@pytest.mark.parametrize("departement", ["13", "75"])
def test_the_dry_run_costs_no_statement_once_the_configuration_is_cached(
    demo, departement, django_assert_max_num_queries
):
    submit(departement, "0612345678")  # warms the per-process caches
    body = body_of(departement, "0698765432")

    # (savepoint,) phone lock, session UPDATE … RETURNING, earlier leads,
    # INSERT, (release), as without the dry run: the demo's orders have no
    # cap, no prepaid budget and no tie, so no live count is read either.
    with django_assert_max_num_queries(6):
        answer = post(body)

    assert answer["crm"] == ("mdl" if departement == "13" else "zr7"), answer


def test_a_failing_dry_run_costs_the_answer_its_crm_never_the_lead(demo, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the dry run")

    monkeypatch.setattr("routing.services.decide.route_decide", broken)

    answer = submit("75", "0612345678")

    assert (answer["status"], answer["crm"]) == ("pending", None)
    assert Lead.objects.get(pk=answer["lead_id"]).status == Lead.Status.PENDING
