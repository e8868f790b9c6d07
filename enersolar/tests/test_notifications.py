"""E-mails to the admins."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from enersolar.notifications import notify_admins

pytestmark = pytest.mark.django_db


def test_admin_emails_are_in_the_site_language_whoever_triggers_them(settings, mailoutbox):
    """A verification run from an English admin page still e-mails in French."""
    get_user_model().objects.create_superuser("chef", "chef@example.com", "x")
    with translation.override("en"):
        notify_admins(
            subject=format_lazy(_("Verification {date}"), date="2030-06-15"),
            message=_("Leads"),
        )

    assert mailoutbox[0].subject == "[EnerSolar] Vérification du 2030-06-15"
    assert mailoutbox[0].body == "Leads"
