"""Serializer fields shared by the public API, and a fast path for validating
flat public bodies."""

import functools
import re
from dataclasses import dataclass

from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.fields import ProhibitSurrogateCharactersValidator, empty


class OptionalText(serializers.CharField):
    """An optional string: null, missing or blank all mean "" and numbers are
    taken as text (landing pages send `"surface": 120` as often as "120")."""

    def __init__(self, max_length: int, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("default", "")
        super().__init__(max_length=max_length, **kwargs)

    def to_internal_value(self, data):
        if data is None:
            return ""
        return super().to_internal_value(data)

    def validate_empty_values(self, data):
        if data is None:
            return True, ""
        return super().validate_empty_values(data)


# --- A fast path for flat text/boolean inputs -------------------------------------
#
# Instantiating a DRF serializer deep-copies every declared field (a new field
# object each, validators included): for the 27 fields of a lead that is most
# of the validation's cost. The public endpoints validate each body here first,
# with the rules read from the serializer's own declared fields; anything this
# does not accept exactly as the serializer would (a missing required field, a
# too-long value, a boolean sent as "yes", a list...) goes through the
# serializer, which gives the answer and the error messages.

_NULL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")
_TEXT, _OPTIONAL_TEXT, _BOOLEAN = "text", "optional_text", "boolean"
_STANDARD_VALIDATORS = (
    MaxLengthValidator,
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)


@dataclass(frozen=True)
class _Rule:
    name: str
    kind: str
    required: bool
    default: object
    allow_blank: bool = False
    allow_null: bool = False
    trim_whitespace: bool = True
    max_length: int | None = None


def _rule(name: str, field: serializers.Field) -> _Rule | None:
    """The field's rules, or None when the fast path cannot mirror it."""
    plain = (
        field.source in (None, name)
        and not field.read_only
        and (field.default is empty or not callable(field.default))
        and all(isinstance(v, _STANDARD_VALIDATORS) for v in field.validators)
    )
    if not plain:
        return None
    common = {"name": name, "required": field.required, "default": field.default}
    if type(field) in (OptionalText, serializers.CharField):
        if field.min_length is not None:
            return None
        return _Rule(
            kind=_OPTIONAL_TEXT if type(field) is OptionalText else _TEXT,
            allow_blank=field.allow_blank,
            allow_null=field.allow_null,
            trim_whitespace=field.trim_whitespace,
            max_length=field.max_length,
            **common,
        )
    if type(field) is serializers.BooleanField:
        return _Rule(kind=_BOOLEAN, **common)
    return None


@functools.cache
def _rules(serializer_class: type[serializers.Serializer]) -> tuple[_Rule, ...] | None:
    custom_hooks = (
        serializer_class.validate is not serializers.Serializer.validate
        or getattr(getattr(serializer_class, "Meta", None), "validators", None)
        or any(
            hasattr(serializer_class, f"validate_{name}")
            for name in serializer_class._declared_fields
        )
    )
    if custom_hooks:
        return None
    rules = tuple(_rule(name, f) for name, f in serializer_class._declared_fields.items())
    return None if None in rules else rules


def _text(rule: _Rule, value):
    if value is None:
        if rule.kind == _OPTIONAL_TEXT:
            return ""
        return None if rule.allow_null else _MISS
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return _MISS
    text = str(value)
    if text == "" or (rule.trim_whitespace and text.strip() == ""):
        return "" if rule.allow_blank else _MISS
    if rule.trim_whitespace:
        text = text.strip()
    if rule.max_length is not None and len(text) > rule.max_length:
        return _MISS
    if _NULL_OR_SURROGATE.search(text):
        return _MISS
    return text


_MISS = object()


def fast_validated(serializer_class: type[serializers.Serializer], data) -> dict | None:
    """What `serializer_class(data=data).validated_data` would be, or None when
    the serializer must decide (errors, or a field this cannot mirror)."""
    rules = _rules(serializer_class)
    if rules is None or not isinstance(data, dict):
        return None
    validated = {}
    for rule in rules:
        if rule.name not in data:
            if rule.required:
                return None
            if rule.default is not empty:
                validated[rule.name] = rule.default
            continue
        value = data[rule.name]
        if rule.kind == _BOOLEAN:
            if value is not True and value is not False:
                return None
        else:
            value = _text(rule, value)
            if value is _MISS:
                return None
        validated[rule.name] = value
    return validated
