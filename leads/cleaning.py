"""A submitted lead's values, made storable (SPEC §3.1): every JSON object that
carries the required fields becomes a lead. Values are coerced where their
meaning is clear, over-long text is cut to its column (the whole value stays
in the raw payload), and a value that cannot be used is left out and named, so
the intake records it in the lead's reasons. Only a missing required field is
the client's error.

Plain Python rather than a DRF serializer: a lead body is flat, and this runs
for every lead (the serializer would refuse, not coerce, and costs several
times as much).
"""

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from .models import Lead

# Text fields and their lengths: the column's, or the input's where the value
# is read before it is stored (a department "1" or "2A", a session id…).
_INPUT_LIMITS = {
    "session_id": 64,
    "phone": Lead._meta.get_field("phone_raw").max_length,
    "departement": 10,
    "product_type": 10,
    "page_url": Lead._meta.get_field("consent_page_url").max_length,
    "submission_id": 100,
}
_COLUMNS = (
    "form_code",
    *Lead.PERSON_FIELDS,
    *Lead.HOUSING_FIELDS,
    *Lead.PROJECT_FIELDS,
    "email",
    "lp_code",
    "liaison_code",
    "utm_campaign",
)
TEXT_LIMITS = {
    **{name: Lead._meta.get_field(name).max_length for name in _COLUMNS},
    **_INPUT_LIMITS,
}
BOOLEAN_FIELDS = ("rgpd_consent", "newsletter")
KNOWN_FIELDS = frozenset(TEXT_LIMITS) | frozenset(BOOLEAN_FIELDS)

# What a checkbox, a select or a legacy page sends; "" and null mean "not given".
_TRUE = frozenset({"true", "oui", "on", "1", "yes", "y", "o"})
_FALSE = frozenset({"false", "non", "off", "0", "no", "n"})
# Control characters (tab and newline too: every column is one line), and the
# U+FFFD that stands for a NUL (enersolar.http).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ufffd]+")


@dataclass
class CleanedLead:
    data: dict  # the usable values, by field name
    cut: list[str] = field(default_factory=list)  # kept in part (the column is shorter)
    rejected: list[str] = field(default_factory=list)  # not usable at all (wrong type…)
    notes: dict[str, str] = field(default_factory=dict)  # field → what was done, in words

    def reasons(self) -> list[str]:
        """The lead's reason codes for its values (the checks add their own)."""
        reasons = []
        if self.cut:
            reasons.append("VALUE_CUT:" + ",".join(self.cut))
        if self.rejected:
            reasons.append("VALUE_REJECTED:" + ",".join(self.rejected))
        return reasons


def missing_fields(body: dict, required: tuple[str, ...]) -> list[str]:
    """The required fields absent, null or blank (a value of another type is
    there: it is stored and named in the reasons)."""
    missing = []
    for name in required:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(name)
    return missing


def _text(value) -> str | None:
    """The value as one line of text, or None when it is not text."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        return None
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    return text.strip()


def boolean_value(value) -> bool | None:
    """True/False where the meaning is clear; None for "not given"; raises
    ValueError otherwise."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, int | float):
        if value in (0, 1):
            return bool(value)
        raise ValueError(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "":
            return None
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(value)


def lead_values_clean(body: dict) -> CleanedLead:
    """The usable values of a lead body (see the module's docstring)."""
    cleaned = CleanedLead(data={})
    data, notes = cleaned.data, cleaned.notes
    for name, value in body.items():
        if value is None or value == "":
            continue
        limit = TEXT_LIMITS.get(name)
        if limit is not None:
            text = _text(value)
            if text is None:
                cleaned.rejected.append(name)
                notes[name] = _("rejected: not text (%(type)s)") % {"type": type(value).__name__}
                continue
            if len(text) > limit:
                text = text[:limit].rstrip()
                cleaned.cut.append(name)
                notes[name] = _("cut to %(limit)s characters (whole value in the raw payload)") % {
                    "limit": limit
                }
            elif not isinstance(value, str):
                notes[name] = _("coerced to text")
            elif _CONTROL.search(value):
                notes[name] = _("control characters removed")
            if text:
                data[name] = text
        elif name in BOOLEAN_FIELDS:
            try:
                flag = boolean_value(value)
            except ValueError:
                cleaned.rejected.append(name)
                notes[name] = _("rejected: not a yes/no value")
                if name == "rgpd_consent":
                    # No proof of consent can rest on an unreadable answer.
                    data[name] = False
                    notes[name] = _("rejected: not a yes/no value, taken as refused")
                continue
            if flag is not None:
                data[name] = flag
                if flag is not value:
                    notes[name] = _("coerced to true") if flag else _("coerced to false")
        else:
            notes[name] = _("unknown field: kept in the raw payload only")
    return cleaned
