"""French phone numbers (SPEC §3.1): normalisation to 0XXXXXXXXX, rejections,
and the log mask."""

import pytest

from enersolar.phone import phone_mask, phone_normalize


@pytest.mark.parametrize(
    "raw",
    [
        "0612345678",  # mobile 06
        "0756123456",  # mobile 07, allocated range (075x)
        "0787654321",
        "0145678912",  # landlines 01–05
        "0245678912",
        "0345678912",
        "0467891234",
        "0556789123",
        "0912345678",  # 09 (VoIP / box)
    ],
)
def test_valid_national_numbers_are_kept_as_they_are(raw):
    assert phone_normalize(raw) == raw


@pytest.mark.parametrize(
    "raw",
    [
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        " 06 12-34.56 78 ",
        "+33612345678",
        "+33 6 12 34 56 78",
        "0033612345678",
        "0033 6 12 34 56 78",
        "+33 (0)6 12 34 56 78",
        "+33(0)612345678",
        "0033 (0)6 12 34 56 78",
        "612345678",  # 9 digits: the leading 0 was left out
        "6 12 34 56 78",
    ],
)
def test_separators_and_international_prefixes_give_the_national_form(raw):
    assert phone_normalize(raw) == "0612345678"


def test_landline_with_international_prefix_is_normalised():
    assert phone_normalize("+33 1 45 67 89 12") == "0145678912"
    assert phone_normalize("145678912") == "0145678912"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "abc",
        "061234567",  # 9 digits starting with 0: one digit short
        "06123456789",  # 11 digits
        "061234567890",
        "1234567890",  # 10 digits, no leading 0
        "6123456789",
        "+44 20 7946 0958",  # not a French number
        "0012345678",  # 00… is not a French number
    ],
)
def test_numbers_that_are_not_ten_digits_starting_with_0_are_rejected(raw):
    assert phone_normalize(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "0712345678",  # 071x: not allocated
        "0711223344",
        "0700000001",
    ],
)
def test_numbers_outside_the_numbering_plan_are_rejected(raw):
    assert phone_normalize(raw) is None


@pytest.mark.parametrize("raw", ["0123456789", "9876543210", "+33 1 23 45 67 89"])
def test_straight_runs_are_rejected(raw):
    assert phone_normalize(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "0102030405",  # ascending pairs
        "01 02 03 04 05",
        "0504030201",  # descending pairs
        "0908070605",
        "0607080910",
    ],
)
def test_pairs_each_one_more_or_one_less_than_the_previous_are_rejected(raw):
    assert phone_normalize(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "0611111111",  # 1 eight times among 611111111
        "0666666666",  # 6 nine times
        "0666666661",  # 6 eight times
        "0311111111",
        "+33 6 11 11 11 11",
    ],
)
def test_one_digit_repeated_eight_times_or_more_after_the_0_is_rejected(raw):
    assert phone_normalize(raw) is None


@pytest.mark.parametrize("raw", ["0611111112", "0666666612"])
def test_seven_repeats_are_below_the_threshold_and_accepted(raw):
    # SPEC §3.1: "one digit repeated 8 or more times among the 9 digits after
    # the leading 0". 0611111112 → 6,1,1,1,1,1,1,1,2: the 1 appears 7 times.
    assert phone_normalize(raw) == raw


def test_phone_mask_keeps_only_the_last_four_digits():
    assert phone_mask("0612345678") == "******5678"
    assert phone_mask("06 12 34 56 78") == "******5678"
    assert "1234" not in phone_mask("0612345678")
    assert phone_mask("") == ""
    assert phone_mask(None) == ""
