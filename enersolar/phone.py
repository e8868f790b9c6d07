"""French phone numbers: normalisation to 0XXXXXXXXX and our anti-fake rules.

phonenumbers decides whether a number can exist (numbering plan ranges); the
anti-fake rules catch what is valid on paper but typed to get past a form.
"""

import re
from collections import Counter

import phonenumbers

_NON_DIGITS = re.compile(r"\D")


def national_digits(raw: str | None) -> str | None:
    """The ten digits `0XXXXXXXXX` a number is written with (international
    prefixes dropped), or None when it has not that shape; no validity check."""
    digits = _NON_DIGITS.sub("", raw or "")
    if digits.startswith("0033"):
        digits = digits[4:]
    elif digits.startswith("33") and len(digits) in (11, 12):
        digits = digits[2:]
    # After an international prefix the trunk 0 may or may not be typed.
    if len(digits) == 9 and not digits.startswith("0"):
        digits = "0" + digits
    if len(digits) != 10 or not digits.startswith("0"):
        return None
    return digits


def phone_normalize(raw: str | None) -> str | None:
    """The national form `0XXXXXXXXX`, or None when the number is not acceptable."""
    digits = national_digits(raw)
    if digits is None:
        return None
    if _looks_fake(digits):
        return None
    try:
        parsed = phonenumbers.parse(digits, "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number_for_region(parsed, "FR"):
        return None
    return digits


def _looks_fake(number: str) -> bool:
    if number in ("0123456789", "9876543210"):
        return True
    pairs = [int(number[i : i + 2]) for i in range(0, 10, 2)]
    if all(abs(b - a) == 1 for a, b in zip(pairs, pairs[1:], strict=False)):
        return True  # 01 02 03 04 05 and the like
    return Counter(number[1:]).most_common(1)[0][1] >= 8


def phone_mask(phone: str | None) -> str:
    """For logs: only the last four digits."""
    digits = _NON_DIGITS.sub("", phone or "")
    return "******" + digits[-4:] if digits else ""
