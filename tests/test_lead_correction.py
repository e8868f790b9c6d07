"""Staff correct a rejected lead in the admin and send it again (issue 15,
point 5): a mistyped phone is fixed, the lead reaches the buyer (a real HTTP
server, tests/buyer.py) and its history keeps the old value."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from enersolar import celery_app
from enersolar.models import ActivityLog
from enersolar.tests.factories import UserFactory
from leads.models import Lead
from leads.services import lead_receive
from routing.tests.helpers import make_world
from tests.buyer import running_buyer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def celery_eager():
    """The delivery task runs in the test's thread, as far as the buyer."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def buyer():
    """The buyer CRM: a real HTTP server (tests/buyer.py)."""
    with running_buyer() as server:
        yield server


@pytest.fixture
def world(buyer):
    return make_world(buyer.url("zr7"))


def rejected_lead(world, **data) -> Lead:
    """A lead stored by the real intake with a mistyped phone (one digit short)."""
    body = {
        "form_code": world.form.code,
        "phone": "061234567",
        "nom": "Martin",
        "prenom": "Paul",
        "code_postal": "69003",
        **data,
    }
    lead = lead_receive(data=body, ip="203.0.113.9").lead
    assert lead.status == Lead.Status.INVALID_PHONE
    return lead


def correct(client, lead, *, follow=True, **values):
    url = reverse("admin:leads_rejectedlead_correct", args=[lead.pk])
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    data = {f"correct-{name}": form.initial.get(name) or "" for name in form.fields}
    data.update({f"correct-{name}": value for name, value in values.items()})
    return client.post(url, data, follow=follow)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_a_mistyped_phone_is_corrected_and_the_lead_reaches_the_buyer(
    client,
    buyer,
    world,
    django_capture_on_commit_callbacks,
):
    lead = rejected_lead(world)
    editor = UserFactory(role="Editor")
    client.force_login(editor)

    with django_capture_on_commit_callbacks(execute=True):
        response = correct(client, lead, phone="06 12 34 56 78")

    assert response.status_code == 200
    assert "Lead corrigé et renvoyé." in messages_of(response)
    lead.refresh_from_db()
    assert lead.phone == "0612345678"
    assert lead.status == Lead.Status.SUCCESS
    assert lead.reasons == []
    (received,) = buyer.requests
    assert received.idempotency_key == str(lead.pk)
    assert "0612345678" in str(received.json)
    entry = ActivityLog.objects.get(object_id=str(lead.pk), details__has_key="correction")
    assert entry.user == editor
    assert entry.details["correction"] == {"phone": {"old": "061234567", "new": "0612345678"}}
    # The lead page (where the redirect lands) shows the old value as typed.
    page = response.content.decode()
    start = page.index("rdz-corrections")
    assert "téléphone : « 061234567 » → « 0612345678 »" in page[start : start + 300]


def test_the_old_values_of_every_corrected_field_are_in_the_history(client, world):
    lead = rejected_lead(world, nom="", code_postal="")
    client.force_login(UserFactory(role="Admin"))

    correct(client, lead, phone="0612345678", nom="Martin", code_postal="69003")

    lead.refresh_from_db()
    assert (lead.nom, lead.code_postal, lead.departement) == ("Martin", "69003", "69")
    entry = ActivityLog.objects.get(object_id=str(lead.pk), details__has_key="correction")
    assert entry.details["correction"]["departement"] == {"old": "", "new": "69"}
    assert entry.details["from_status"] == Lead.Status.INVALID_PHONE


def test_a_still_invalid_phone_is_refused_and_nothing_changes(client, buyer, world):
    lead = rejected_lead(world)
    client.force_login(UserFactory(role="Editor"))

    response = correct(client, lead, follow=False, phone="0600000000")

    assert response.status_code == 200  # the form again, with its error
    assert "Numéro de téléphone français invalide." in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.INVALID_PHONE
    assert not buyer.requests
    assert not ActivityLog.objects.filter(details__has_key="correction").exists()


def test_a_corrected_phone_of_a_recent_lead_becomes_a_duplicate(client, buyer, world):
    world.lead(phone="0612345678", status=Lead.Status.SUCCESS)
    lead = rejected_lead(world)
    client.force_login(UserFactory(role="Editor"))

    correct(client, lead, phone="0612345678")

    lead.refresh_from_db()
    assert lead.status == Lead.Status.DUPLICATE_INTERNAL
    assert not buyer.requests


def test_the_action_opens_the_correction_page(client, world):
    lead = rejected_lead(world)
    client.force_login(UserFactory(role="Editor"))

    response = client.post(
        reverse("admin:leads_rejectedlead_changelist"),
        {"action": "correct_lead", "_selected_action": [lead.pk]},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:leads_rejectedlead_correct", args=[lead.pk])


def test_a_viewer_cannot_correct(client, world):
    lead = rejected_lead(world)
    client.force_login(UserFactory(role="Viewer"))

    url = reverse("admin:leads_rejectedlead_correct", args=[lead.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"correct-phone": "0612345678"}).status_code == 403
    page = client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    assert url not in page
