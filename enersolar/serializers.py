"""Serializer fields shared by the public API, and a fast path for validating
flat public bodies."""

import functools
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import empty


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


# --- A fast path for flat public bodies -------------------------------------------
#
# Instantiating a DRF serializer deep-copies every declared field (a new field
# object each, validators included): for the 27 fields of a lead that is most
# of the validation's cost. The public endpoints validate each body here first,
# with the rules and validators of the serializer's own declared fields;
# anything this does not accept exactly as the serializer would (a missing
# required field, a too-long value, a boolean sent as "yes", a list...) goes
# through the serializer, which gives the answer and the error messages.

_TEXT, _OPTIONAL_TEXT, _BOOLEAN, _UUID, _DICT = "text", "optional_text", "boolean", "uuid", "dict"
_MISS = object()  # "let the serializer decide"


@dataclass(frozen=True)
class _Rule:
    name: str
    kind: str
    field: serializers.Field

    @property
    def required(self) -> bool:
        return self.field.required


def _kind(field: serializers.Field) -> str | None:
    if type(field) is OptionalText:
        return _OPTIONAL_TEXT
    if type(field) in (serializers.CharField, serializers.RegexField):
        return _TEXT if field.min_length is None else None
    if type(field) is serializers.BooleanField:
        return _BOOLEAN
    if type(field) is serializers.UUIDField:
        return _UUID if field.uuid_format == "hex_verbose" else None
    if type(field) is serializers.DictField:
        unvalidated = type(field.child).__name__ == "_UnvalidatedField"
        return _DICT if unvalidated and field.allow_empty else None
    return None


def _rule(name: str, field: serializers.Field) -> _Rule | None:
    """The field's rules, or None when the fast path cannot mirror it."""
    kind = _kind(field)
    plain = (
        kind is not None
        and field.source in (None, name)
        and not field.read_only
        and not getattr(field.default, "requires_context", False)
        and not any(getattr(v, "requires_context", False) for v in field.validators)
    )
    return _Rule(name, kind, field) if plain else None


@functools.cache
def _rules(serializer_class: type[serializers.Serializer]) -> tuple[_Rule, ...] | None:
    declared = serializer_class._declared_fields
    base = serializers.Serializer
    custom_hooks = (
        # A ModelSerializer's generated fields are not in _declared_fields.
        issubclass(serializer_class, serializers.ModelSerializer)
        or serializer_class.to_internal_value is not base.to_internal_value
        or serializer_class.run_validation is not base.run_validation
        or serializer_class.validate is not base.validate
        or getattr(getattr(serializer_class, "Meta", None), "validators", None)
        or any(hasattr(serializer_class, f"validate_{name}") for name in declared)
    )
    if custom_hooks:
        return None
    rules = tuple(_rule(name, field) for name, field in declared.items())
    return None if None in rules else rules


def _text(field: serializers.CharField, value, *, optional: bool):
    if value is None:
        if optional:
            return ""
        return None if field.allow_null else _MISS
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return _MISS
    text = str(value)
    if text == "" or (field.trim_whitespace and text.strip() == ""):
        return "" if field.allow_blank else _MISS
    return text.strip() if field.trim_whitespace else text


def _value(rule: _Rule, value):
    field = rule.field
    if rule.kind == _BOOLEAN:
        return value if value is True or value is False else _MISS
    if rule.kind == _DICT:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else _MISS
    if rule.kind == _UUID:
        if not isinstance(value, str):
            return _MISS
        try:
            return uuid.UUID(hex=value)
        except ValueError:
            return _MISS
    return _text(field, value, optional=rule.kind == _OPTIONAL_TEXT)


def fast_validated(serializer_class: type[serializers.Serializer], data) -> dict | None:
    """What `serializer_class(data=data).validated_data` would be, or None when
    the serializer must decide (errors, or a field this cannot mirror)."""
    rules = _rules(serializer_class)
    if rules is None or not isinstance(data, dict):
        return None
    validated = {}
    for rule in rules:
        field = rule.field
        if rule.name not in data:
            if field.required:
                return None
            if field.default is not empty:
                validated[rule.name] = field.default() if callable(field.default) else field.default
            continue
        value = _value(rule, data[rule.name])
        if value is _MISS:
            return None
        if value not in ("", None):  # DRF skips validators for these
            try:
                for validator in field.validators:
                    validator(value)
            except (DjangoValidationError, serializers.ValidationError):
                return None
        validated[rule.name] = value
    return validated
