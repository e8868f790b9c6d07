"""The brief's admin page: scripts with copy buttons, mini brief, preview."""

import html

import pytest
from django.urls import reverse

from enersolar.roles import VIEWER
from enersolar.tests.factories import UserFactory
from tracking.tests.factories import FormFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def form(settings):
    settings.PUBLIC_BASE_URL = "https://crm.example.com"
    form = FormFactory(redirect_url="https://merci.example.com/")
    form.account.gtm_head = "<script>/* gtm head */</script>"
    form.account.legal_notice = "Mentions <b>légales</b>"
    form.account.save()
    return form


def brief_url(form):
    return reverse("admin:tracking_form_brief", args=[form.pk])


def test_a_viewer_sees_the_scripts_and_the_mini_brief(client, form):
    client.force_login(UserFactory(role=VIEWER))
    response = client.get(brief_url(form))
    assert response.status_code == 200
    page = response.content.decode()
    for snippet in ("mode-a-lp", "mode-a-form", "mode-b", "thank-you", "gtm-head", "legal-notice"):
        assert f'id="{snippet}"' in page
    assert page.count('class="button rdz-copy"') == 6
    # Scripts and snippets are shown as text, escaped, never run in the admin.
    assert "&lt;script&gt;/* gtm head */&lt;/script&gt;" in page
    assert "Mentions &lt;b&gt;légales&lt;/b&gt;" in page
    assert "<script>/* gtm head */" not in page
    assert "rdzSubmitLead" in page
    assert "https://crm.example.com" in html.unescape(page)


def test_form_url_regenerates_the_lp_script(client, form):
    client.force_login(UserFactory(role=VIEWER))
    page = client.get(brief_url(form), {"form_url": "https://lp.example.com/f"}).content.decode()
    assert "&quot;form_url&quot;: &quot;https://lp.example.com/f&quot;" in page


def test_demo_links_only_with_the_sandbox(client, form, settings):
    client.force_login(UserFactory(role=VIEWER))
    settings.SANDBOX_ENABLED = True
    assert f"/demo/form/{form.code}/" in client.get(brief_url(form)).content.decode()
    settings.SANDBOX_ENABLED = False
    assert f"/demo/form/{form.code}/" not in client.get(brief_url(form)).content.decode()


def test_staff_without_the_view_permission_is_refused(client, form):
    client.force_login(UserFactory())
    assert client.get(brief_url(form)).status_code == 403


def test_change_page_and_list_link_to_the_brief(client, form):
    client.force_login(UserFactory(is_superuser=True))
    change = client.get(reverse("admin:tracking_form_change", args=[form.pk])).content.decode()
    assert brief_url(form) in change
    changelist = client.get(reverse("admin:tracking_form_changelist")).content.decode()
    assert brief_url(form) in changelist


def test_brief_action_opens_the_page_of_one_form(client, form):
    client.force_login(UserFactory(is_superuser=True))
    url = reverse("admin:tracking_form_changelist")
    response = client.post(url, {"action": "show_brief", "_selected_action": [form.pk]})
    assert response.status_code == 302 and response["Location"] == brief_url(form)
    other = FormFactory()
    response = client.post(
        url, {"action": "show_brief", "_selected_action": [form.pk, other.pk]}, follow=True
    )
    assert response.redirect_chain[-1][0].startswith(url)


def test_a_non_web_landing_page_url_is_shown_as_text_not_as_a_link(client, form):
    form.landing_page.url = "javascript:alert(document.cookie)"
    form.landing_page.save()
    client.force_login(UserFactory(role=VIEWER))

    page = html.unescape(client.get(brief_url(form)).content.decode())

    assert 'href="javascript:' not in page
    assert "javascript:alert(document.cookie)" in page  # shown, so that staff can fix it
