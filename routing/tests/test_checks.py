"""The system check of the delivery lease against a batch's slowest run."""

from django.core import checks

from routing.tasks import BATCH


def lease_warnings() -> list:
    return [m for m in checks.run_checks() if m.id == "routing.W001"]


def test_a_lease_shorter_than_twice_the_slowest_batch_is_warned_of(settings):
    settings.CRM_CONNECT_TIMEOUT, settings.CRM_READ_TIMEOUT = 3.0, 15.0
    settings.DELIVERY_LEASE_SECONDS = int(BATCH * 18 * 2) - 1

    (warning,) = lease_warnings()

    assert warning.level == checks.WARNING
    assert f"{BATCH * 18:g} s" in warning.msg
    assert "DELIVERY_LEASE_SECONDS" in warning.msg


def test_a_lease_of_twice_the_slowest_batch_is_enough(settings):
    settings.CRM_CONNECT_TIMEOUT, settings.CRM_READ_TIMEOUT = 3.0, 15.0
    settings.DELIVERY_LEASE_SECONDS = int(BATCH * 18 * 2)

    assert lease_warnings() == []
