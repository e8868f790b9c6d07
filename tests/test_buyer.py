"""The fake buyer CRM itself: what the delivery tests rely on it to do."""

import threading

import pytest
import requests

from tests.buyer import Answer, refused_url, running_buyer


@pytest.fixture
def buyer():
    with running_buyer() as server:
        yield server


def post(url, key="k-1", idempotency="lead-1", body=None, timeout=5):
    return requests.post(
        url,
        json=body if body is not None else {"phone": "0612345678"},
        headers={"Authorization": key, "Idempotency-Key": idempotency},
        timeout=timeout,
    )


def test_records_path_headers_body_and_answer(buyer):
    response = post(buyer.url("zr7"), key="secret-key", body={"phone": "0612345678", "nom": "A"})

    assert response.status_code == 201
    (received,) = buyer.requests
    assert received.method == "POST"
    assert received.path == "/zr7/lead/api/create_lead/"
    assert received.slug == "zr7"
    assert received.headers["authorization"] == "secret-key"
    assert received.json == {"phone": "0612345678", "nom": "A"}
    assert received.idempotency_key == "lead-1"
    assert received.answered == 201


def test_queued_answers_are_consumed_in_order_then_the_default(buyer):
    buyer.answer(403)
    buyer.answer(500, times=2)
    buyer.script(Answer(200, {"message": "doublon"}), Answer(400))

    statuses = [post(buyer.url()).status_code for _ in range(6)]

    assert statuses == [500, 500, 200, 400, 403, 403]
    assert [r.answered for r in buyer.requests] == statuses


def test_per_slug_answers_come_before_the_global_ones(buyer):
    buyer.answer(403, slug="mdl")
    buyer.answer(400, slug="mdl", times=1)
    buyer.answer(500, times=1)

    # mdl: its own queue, then the global queue, then its own default.
    assert [post(buyer.url("mdl")).status_code for _ in range(3)] == [400, 500, 403]
    assert post(buyer.url("zr7")).status_code == 201
    assert [r.slug for r in buyer.requests] == ["mdl", "mdl", "mdl", "zr7"]


def test_retry_after_header_and_doublon_body(buyer):
    buyer.answer(429, headers={"Retry-After": "120"}, times=1)
    buyer.answer(200, {"success": False, "message": "Lead en doublon"}, times=1)

    first, second = post(buyer.url()), post(buyer.url())

    assert first.status_code == 429 and first.headers["Retry-After"] == "120"
    assert second.status_code == 200 and "doublon" in second.text


def test_hang_outlasts_the_client_read_timeout(buyer):
    buyer.answer(hang=True, times=1)

    with pytest.raises(requests.ReadTimeout):
        post(buyer.url(), timeout=(1, 0.3))

    assert buyer.requests[0].answered is None
    assert post(buyer.url()).status_code == 201  # the server is still fine


def test_refused_url_refuses(buyer):
    with pytest.raises(requests.ConnectionError):
        post(refused_url(), timeout=2)


def test_counts_by_idempotency_key_under_concurrent_clients(buyer):
    buyer.answer(500, times=5)

    def send(n):
        post(buyer.url(), idempotency=f"lead-{n % 4}")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert buyer.count_by_idempotency_key() == {f"lead-{i}": 5 for i in range(4)}
    assert sum(buyer.count_by_idempotency_key(answered=201).values()) == 15
