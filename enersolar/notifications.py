"""E-mail to the people who run the service."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import translation

from .roles import ADMIN

logger = logging.getLogger(__name__)


def admin_recipients() -> list[str]:
    """ADMIN_EMAILS plus every active superuser or member of the Admin group."""
    users = (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name=ADMIN), is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    return sorted({email for _, email in settings.ADMINS} | set(users))


def notify_admins(*, subject, message) -> int:
    """Send one e-mail to the admins, in the site's language (LANGUAGE_CODE)
    whoever triggered it: pass lazy texts (gettext_lazy, format_lazy). A mail
    outage is logged, never raised: it must not stop a delivery or a
    verification run."""
    recipients = admin_recipients()
    if not recipients:
        return 0
    with translation.override(settings.LANGUAGE_CODE):
        subject, message = str(subject), str(message)
    try:
        return send_mail(f"[EnerSolar] {subject}", message, None, recipients)
    except Exception:  # noqa: BLE001 - any SMTP failure
        logger.exception("could not e-mail admins: %s", subject)
        return 0
