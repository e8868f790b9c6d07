"""A landing page serves the form staff chose (LandingPage.form), never a
guess: duplicating a form leaves a live LP alone, changing the LP's form is
journaled, and the migration kept what each LP served."""

import importlib
from pathlib import Path

import pytest
from django.apps import apps

from enersolar.models import ActivityLog
from enersolar.tests.factories import product
from enersolar.tests.helpers import public_client
from tracking.brief import mini_brief
from tracking.models import Form, LandingPage
from tracking.services import form_duplicate
from tracking.tests.factories import FormFactory, LandingPageFactory

pytestmark = pytest.mark.django_db


def served_by_session(client, lp_code: str) -> str:
    response = client.post("/api/public/track/session", {"lp_code": lp_code}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["form_code"]


def served_by_lp_api(client, lp_code: str) -> str:
    response = client.get(f"/api/forms/public/by-lp/{lp_code}")
    assert response.status_code == 200, response.content
    return response.json()["form_code"]


def test_a_new_lps_first_form_is_what_it_serves():
    landing_page = LandingPageFactory()
    assert landing_page.form is None

    form = FormFactory(landing_page=landing_page)

    landing_page.refresh_from_db()
    assert landing_page.form == form


def test_duplicating_pv_001_leaves_lp_001_serving_pv_001():
    pv = FormFactory(product_type=product("PV"))
    lp_code = pv.landing_page.code
    client = public_client()
    assert (pv.code, lp_code) == ("PV-001", "LP-001")
    # Read once before: the LP and its form are then in the process cache.
    assert served_by_session(client, lp_code) == served_by_lp_api(client, lp_code) == "PV-001"

    copy = form_duplicate(form=pv)

    assert copy.landing_page == pv.landing_page and copy.status == Form.Status.ACTIVE
    assert served_by_session(public_client(), lp_code) == "PV-001"
    assert served_by_lp_api(client, lp_code) == "PV-001"
    assert LandingPage.objects.get(code=lp_code).form == pv


def test_an_lp_whose_form_is_archived_serves_none_until_staff_choose():
    pv = FormFactory()
    other = FormFactory(landing_page=pv.landing_page)
    pv.status = Form.Status.ARCHIVED
    pv.save()

    response = public_client().get(f"/api/forms/public/by-lp/{pv.landing_page.code}")

    assert response.status_code == 404  # not the other form, guessed
    assert LandingPage.objects.get(pk=pv.landing_page_id).form == pv
    assert other.served_on.count() == 0


def test_changing_the_lps_form_in_the_admin_is_journaled_old_to_new(admin_client, mailoutbox):
    pv = FormFactory()
    copy = form_duplicate(form=pv)
    landing_page = pv.landing_page
    url = f"/admin/tracking/landingpage/{landing_page.pk}/change/"
    page = admin_client.get(url)
    choices = {str(value) for value, _ in page.context["adminform"].form.fields["form"].choices}
    assert choices == {"", str(pv.pk), str(copy.pk)}  # this LP's active forms only

    response = admin_client.post(
        url,
        {
            "name": landing_page.name,
            "account": landing_page.account_id,
            "form": copy.pk,
            "url": "",
            "traffic_source": "",
            "status": LandingPage.Status.ACTIVE,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert served_by_lp_api(public_client(), landing_page.code) == copy.code
    entry = ActivityLog.objects.get(action=ActivityLog.Action.DESTINATION)
    assert entry.object_type == "tracking.landingpage"
    assert entry.object_id == str(landing_page.pk)
    assert entry.details == {"changes": [{"field": "form", "old": str(pv), "new": str(copy)}]}


def test_the_brief_warns_when_its_lp_serves_another_form():
    pv = FormFactory()
    copy = form_duplicate(form=pv)

    assert not any("LP-001" in warning for warning in mini_brief(pv)["warnings"])
    [warning] = [w for w in mini_brief(copy)["warnings"] if "LP-001" in w]
    assert "PV-001" in warning


def _migration():
    [path] = Path(__file__).resolve().parents[1].glob("migrations/*_landing_page_form.py")
    return importlib.import_module(f"tracking.migrations.{path.stem}")


def test_the_migration_keeps_what_each_lp_served_before():
    # Before: the newest active form of the LP was served.
    two_forms = LandingPageFactory()
    FormFactory(landing_page=two_forms)
    newest = FormFactory(landing_page=two_forms)
    FormFactory(landing_page=two_forms, status=Form.Status.ARCHIVED)  # newer, archived
    only_archived = LandingPageFactory()
    FormFactory(landing_page=only_archived, status=Form.Status.ARCHIVED)
    without_form = LandingPageFactory()
    LandingPage.objects.update(form=None)  # as the column was added

    _migration().landing_pages_keep_their_form(apps, None)

    served = dict(LandingPage.objects.values_list("pk", "form"))
    assert served == {two_forms.pk: newest.pk, only_archived.pk: None, without_form.pk: None}
