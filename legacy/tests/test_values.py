"""The importer's readers of legacy values: prices, dates, phones, COPY text."""

import random
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import pytest

from enersolar.phone import phone_normalize
from legacy.importer import values
from legacy.importer.values import as_decimal, phone_normalize_cached
from legacy.reader import parse_datetime


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("25,50", "25.50"),
        ("25.50", "25.50"),
        (25.5, "25.5"),
        (40, "40"),
        ("1 234,50 €", "1234.50"),
        ("1\u202f234,50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1,234.50", "1234.50"),
        ("30 EUR", "30"),
    ],
)
def test_prices_as_people_wrote_them(written, expected):
    assert as_decimal(written) == Decimal(expected)


@pytest.mark.parametrize("written", ["", "abc", None, True, "25,50,1"])
def test_prices_that_mean_nothing_are_refused(written):
    with pytest.raises((InvalidOperation, ValueError)):
        as_decimal(written)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-02-09T10:00:00.123456+00:00", datetime(2026, 2, 9, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-02-09T10:00:00", datetime(2026, 2, 9, 10, 0, tzinfo=UTC)),
        ("2026-02-09T10:00:00Z", datetime(2026, 2, 9, 10, 0, tzinfo=UTC)),
        ("09/02/2026", datetime(2026, 2, 9, tzinfo=UTC)),
        ("9/2/2026 10:30", datetime(2026, 2, 9, 10, 30, tzinfo=UTC)),
        (1770631200, datetime(2026, 2, 9, 10, 0, tzinfo=UTC)),
        ("1770631200", datetime(2026, 2, 9, 10, 0, tzinfo=UTC)),
        (1770631200000, datetime(2026, 2, 9, 10, 0, tzinfo=UTC)),
    ],
)
def test_dates_as_the_legacy_wrote_them(written, expected):
    assert parse_datetime(written) == expected


def test_the_cached_phone_check_answers_exactly_as_phone_normalize(monkeypatch):
    monkeypatch.setattr(values, "_PREFIX_VALID", {})
    rng = random.Random(5)
    numbers = ["0611111111", "0612345678", "0102030405", "0836123456", "0836041234", "0899999999"]
    for _ in range(60_000):
        digits = f"0{rng.randrange(10**9):09d}"
        style = rng.randrange(4)
        numbers.append(
            digits
            if style == 0
            else " ".join(digits[i : i + 2] for i in range(0, 10, 2))
            if style == 1
            else "+33" + digits[1:]
            if style == 2
            else digits[1:]
        )
    # Fake numbers of a valid prefix, first and later.
    numbers += ["0666666666", "0666666661", "0712345678", "0799999999", "0798765432"]
    for number in numbers + numbers[:1000]:
        assert phone_normalize_cached(number) == phone_normalize(number), number


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("82.1.2.3", "82.1.2.3"),
        (" 10.0.0.255 ", "10.0.0.255"),
        ("256.1.1.1", None),
        ("01.2.3.4", None),
        ("1.2.3.4, 5.6.7.8", None),
        ("2001:DB8::1", "2001:db8::1"),
        ("", None),
        (None, None),
    ],
)
def test_ip_addresses(written, expected):
    assert values.as_ip(written) == expected
