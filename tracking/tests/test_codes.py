"""Landing page and form codes (SPEC §1): LP-001…, <PRODUCT>-NNN per product,
generated on create and on duplicate, never reused, unique, safe under
concurrent creation."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from enersolar.models import ActivityLog
from enersolar.tests.factories import AccountFactory, UserFactory, product
from tracking.models import Form, LandingPage
from tracking.services import form_duplicate

from .factories import FormFactory, LandingPageFactory

pytestmark = pytest.mark.django_db


def test_landing_page_codes_count_up_from_lp_001():
    codes = [LandingPageFactory().code for _ in range(3)]
    assert codes == ["LP-001", "LP-002", "LP-003"]


def test_landing_page_code_of_a_deleted_page_is_never_reused():
    LandingPageFactory()
    second = LandingPageFactory()
    assert second.code == "LP-002"
    second.delete()
    assert LandingPageFactory().code == "LP-003"
    assert not LandingPage.objects.filter(code="LP-002").exists()


def test_landing_page_code_does_not_change_on_save():
    landing_page = LandingPageFactory()
    landing_page.name = "Renamed"
    landing_page.save()
    landing_page.refresh_from_db()
    assert landing_page.code == "LP-001"
    assert LandingPageFactory().code == "LP-002"


def test_form_codes_have_one_counter_per_product():
    codes = [
        FormFactory(product_type=product("PV")).code,
        FormFactory(product_type=product("PV")).code,
        FormFactory(product_type=product("PAC")).code,
        FormFactory(product_type=product("PV")).code,
        FormFactory(product_type=product("ITE")).code,
        FormFactory(product_type=product("PAC")).code,
    ]
    assert codes == ["PV-001", "PV-002", "PAC-001", "PV-003", "ITE-001", "PAC-002"]


def test_form_code_of_a_deleted_form_is_never_reused():
    FormFactory(product_type=product("PV"))
    second = FormFactory(product_type=product("PV"))
    second.delete()
    assert FormFactory(product_type=product("PV")).code == "PV-003"


def test_form_code_does_not_change_when_saved_again():
    form = FormFactory(product_type=product("PV"))
    form.name = "Renamed"
    form.save()
    form.refresh_from_db()
    assert form.code == "PV-001"


def test_form_code_is_unique_in_the_database():
    form = FormFactory(product_type=product("PV"))
    clone = FormFactory.build(product_type=product("PV"), landing_page=form.landing_page)
    clone.code = form.code  # save() only draws a code when none is set
    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()


def test_landing_page_code_is_unique_in_the_database():
    landing_page = LandingPageFactory()
    clone = LandingPage(code=landing_page.code, name="clone", account=landing_page.account)
    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()


def test_liaison_code_joins_lp_and_form_codes():
    form = FormFactory(product_type=product("PAC"))
    assert form.liaison_code == f"{form.landing_page.code}_{form.code}" == "LP-001_PAC-001"


def test_duplicate_takes_the_next_code_of_the_same_product():
    pv = FormFactory(product_type=product("PV"), name="Solaire")
    FormFactory(product_type=product("PV"))
    FormFactory(product_type=product("PAC"))

    copy = form_duplicate(form=pv)

    assert copy.pk != pv.pk
    assert copy.code == "PV-003"
    assert copy.product_type == pv.product_type
    assert copy.landing_page == pv.landing_page
    assert copy.name == "Solaire (copie)"
    # The other product's counter did not move.
    assert FormFactory(product_type=product("PAC")).code == "PAC-002"
    pv.refresh_from_db()
    assert pv.code == "PV-001"


def test_duplicate_is_journaled_with_the_user_and_the_source_code():
    user = UserFactory()
    pv = FormFactory(product_type=product("PV"))

    copy = form_duplicate(form=pv, user=user)

    entry = ActivityLog.objects.get(action=ActivityLog.Action.DUPLICATE)
    assert entry.user == user
    assert entry.object_type == "tracking.form"
    assert entry.object_id == str(copy.pk)
    assert entry.object_repr == str(copy)
    assert entry.details == {"from": "PV-001"}


def test_duplicate_action_in_the_admin_gives_new_codes(admin_client):
    pv = FormFactory(product_type=product("PV"))
    pac = FormFactory(product_type=product("PAC"))

    response = admin_client.post(
        "/admin/tracking/form/",
        {"action": "duplicate", "_selected_action": [pv.pk, pac.pk]},
    )

    assert response.status_code == 302
    assert set(Form.objects.values_list("code", flat=True)) == {
        "PV-001",
        "PAC-001",
        "PV-002",
        "PAC-002",
    }
    assert ActivityLog.objects.filter(action=ActivityLog.Action.DUPLICATE).count() == 2


def test_form_created_in_the_admin_gets_its_code(admin_client):
    landing_page = LandingPageFactory()
    FormFactory(product_type=product("ITE"), landing_page=landing_page)

    response = admin_client.post(
        "/admin/tracking/form/add/",
        {
            "name": "Nouveau",
            "product_type": product("ITE").pk,
            "account": landing_page.account.pk,
            "landing_page": landing_page.pk,
            "status": "active",
            "conversion_mode": "redirect",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Form.objects.get(name="Nouveau").code == "ITE-002"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_form_creation_gives_distinct_unbroken_codes():
    threads_count, per_thread = 8, 5
    pv = product("PV")
    landing_page = LandingPageFactory(account=AccountFactory())
    barrier = threading.Barrier(threads_count)
    codes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int):
        try:
            barrier.wait(timeout=10)  # all threads start creating at once
            for i in range(per_thread):
                form = Form.objects.create(
                    name=f"T{n}-{i}",
                    product_type=pv,
                    account=landing_page.account,
                    landing_page=landing_page,
                )
                with lock:
                    codes.append(form.code)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    total = threads_count * per_thread
    assert len(codes) == len(set(codes)) == total
    assert sorted(codes) == [f"PV-{n:03d}" for n in range(1, total + 1)]
    assert Form.objects.filter(product_type=pv).count() == total
