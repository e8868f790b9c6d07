"""Serializer fields shared by the public API."""

from rest_framework import serializers


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
