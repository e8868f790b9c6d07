"""Admin brute-force protection (SPEC §11), through the real admin login form."""

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/?next=/admin/"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return get_user_model().objects.create_user(
        "manon", password=PASSWORD, is_staff=True, is_superuser=True
    )


def _login(client, password, ip="203.0.113.7"):
    return client.post(LOGIN_URL, {"username": "manon", "password": password}, REMOTE_ADDR=ip)


def test_a_right_password_logs_in(client, staff):
    response = _login(client, PASSWORD)

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_too_many_failures_lock_the_user_from_that_address(client, staff):
    for _ in range(2):
        assert _login(client, "guess").status_code == 200  # the form again, with its error

    locked = _login(client, "guess")
    assert locked.status_code == 429

    # Locked means locked: even the right password is refused now.
    assert _login(client, PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session  # not logged in


def test_the_lock_holds_one_address_not_the_whole_office(client, staff):
    for _ in range(3):
        _login(client, "guess", ip="203.0.113.7")

    assert _login(client, PASSWORD, ip="198.51.100.20").status_code == 302


def test_a_success_before_the_limit_forgets_earlier_failures(client, staff):
    _login(client, "guess")
    _login(client, "guess")
    assert _login(client, PASSWORD).status_code == 302
    client.logout()

    _login(client, "guess")
    _login(client, "guess")
    assert _login(client, PASSWORD).status_code == 302


def test_one_address_trying_many_usernames_is_stopped(client, staff, monkeypatch):
    """Password spraying: a few guesses on each of many accounts never locks a
    (username, address) pair, so the address itself has a limit."""
    from enersolar.http import AdminLoginThrottle

    monkeypatch.setattr(AdminLoginThrottle, "THROTTLE_RATES", {"admin_login": "4/hour"})
    ip = "192.0.2.44"  # an address no other test uses: its own counter
    answers = [
        client.post(LOGIN_URL, {"username": f"user{n}", "password": "guess"}, REMOTE_ADDR=ip)
        for n in range(4)
    ]
    assert [a.status_code for a in answers] == [200] * 4

    refused = client.post(LOGIN_URL, {"username": "manon", "password": PASSWORD}, REMOTE_ADDR=ip)
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not concerned.
    assert _login(client, PASSWORD, ip="198.51.100.99").status_code == 302
