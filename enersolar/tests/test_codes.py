"""The counters behind human codes (LP-001, PV-001): monotonic, per name, never reused."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from enersolar.models import CodeSequence
from enersolar.services import code_sequence_next

pytestmark = pytest.mark.django_db


def test_a_new_counter_starts_at_one_and_counts_up():
    assert [code_sequence_next(name="T") for _ in range(3)] == [1, 2, 3]
    assert CodeSequence.objects.get(name="T").last_value == 3


def test_counters_are_independent_per_name():
    code_sequence_next(name="A")
    code_sequence_next(name="A")
    assert code_sequence_next(name="B") == 1
    assert code_sequence_next(name="A") == 3


def test_a_counter_continues_from_its_stored_value():
    # The stored row is the only state: nothing is recomputed from existing objects.
    CodeSequence.objects.create(name="LP", last_value=41)
    assert code_sequence_next(name="LP") == 42


def test_a_draw_rolled_back_with_its_transaction_leaves_no_gap():
    code_sequence_next(name="R")
    with pytest.raises(IntegrityError), transaction.atomic():
        assert code_sequence_next(name="R") == 2
        raise IntegrityError("simulated failure after drawing the value")
    # The draw was rolled back with its transaction (no object kept the code),
    # so the counter did not move and the sequence has no hole.
    assert code_sequence_next(name="R") == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_draws_never_return_the_same_value():
    threads_count, per_thread = 8, 10
    barrier = threading.Barrier(threads_count)
    values: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait(timeout=10)
            drawn = [code_sequence_next(name="CONC") for _ in range(per_thread)]
            with lock:
                values.extend(drawn)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert sorted(values) == list(range(1, threads_count * per_thread + 1))
