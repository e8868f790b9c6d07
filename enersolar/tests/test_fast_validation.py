"""The fast path of public body validation agrees with the DRF serializers it
reads its rules from: whenever it gives an answer, the serializer gives the
same validated data; otherwise it leaves the decision to the serializer."""

import random
import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework import serializers

from enersolar.serializers import OptionalText, fast_validated
from leads.apis import PartnerLeadInput, PublicLeadInput
from tracking.apis import EventInput, LpVisitInput, SessionInput

TRICKY_VALUES = [
    "Dupont",
    "  padded  ",
    "",
    "   ",
    None,
    0,
    120,
    1.5,
    True,
    False,
    [],
    {},
    ["x"],
    "x" * 10,
    "x" * 11,
    "x" * 30,
    "x" * 31,
    "x" * 100,
    "x" * 101,
    "x" * 255,
    "x" * 256,
    "a\x00b",
    "a\ud800b",
    "true",
    "false",
    "1",
    "0",
    "yes",
    "06 12 34 56 78",
    "Hélène",
    "5b1e0c6a-0000-4000-a000-000000000001",
    "5B1E0C6A-0000-4000-A000-000000000001",
    "{5b1e0c6a-0000-4000-a000-000000000001}",
    "urn:uuid:5b1e0c6a-0000-4000-a000-000000000001",
    "5b1e0c6a000040000a000000000000001",
    {"step": 2},
    {"a": None, "b": [1, 2]},
    {1: "x"},
    "form_step",
    "Form_Step",
    "cta click",
    "x" * 50,
    "x" * 51,
]


def valid_value(field, rng: random.Random):
    if isinstance(field, serializers.BooleanField):
        return rng.choice([True, False])
    if isinstance(field, serializers.UUIDField):
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if isinstance(field, serializers.DictField):
        return {"step": rng.randint(1, 5)}
    if isinstance(field, serializers.RegexField):
        return "form_step"
    return "ok"


def serializer_answer(serializer_class, body):
    serializer = serializer_class(data=body)
    return dict(serializer.validated_data) if serializer.is_valid() else None


def random_body(serializer_class, rng: random.Random) -> dict:
    """A plausible body (each field present or not), then zero to three
    fields set to a tricky value."""
    fields = serializer_class._declared_fields
    body = {
        name: valid_value(field, rng)
        for name, field in fields.items()
        if field.required or rng.random() < 0.5
    }
    for name in rng.sample(sorted(fields), rng.randint(0, 3)):
        body[name] = rng.choice(TRICKY_VALUES)
    if rng.random() < 0.2:
        body["unknown_field"] = rng.choice(TRICKY_VALUES)
    return body


@pytest.mark.parametrize(
    "serializer_class", [PublicLeadInput, SessionInput, EventInput, LpVisitInput]
)
def test_fast_path_gives_the_serializers_answer_or_none(serializer_class):
    rng = random.Random(1234)
    answered = 0
    for _ in range(3000):
        body = random_body(serializer_class, rng)
        fast = fast_validated(serializer_class, body)
        if fast is not None:
            answered += 1
            assert fast == serializer_answer(serializer_class, body), body
    assert 300 < answered < 3000  # both paths were taken


def test_a_typical_lead_takes_the_fast_path():
    body = {
        "session_id": "5b1e0c6a-0000-4000-a000-000000000001",
        "form_code": "PV-001",
        "phone": "06 12 34 56 78",
        "nom": "Dupont",
        "surface_habitable": 120,
        "rgpd_consent": True,
    }
    fast = fast_validated(PublicLeadInput, body)
    assert fast is not None
    assert fast == serializer_answer(PublicLeadInput, body)
    assert fast["surface_habitable"] == "120"
    assert fast["newsletter"] is False
    assert fast["prenom"] == ""


@pytest.mark.parametrize(
    "body",
    [
        {"form_code": "PV-001", "phone": "0612345678"},  # session_id missing
        {"session_id": "s", "form_code": "PV-001", "phone": ""},  # blank phone
        {"session_id": "s", "form_code": "PV-001", "phone": "0612345678", "nom": "x" * 101},
        {"session_id": "s", "form_code": "PV-001", "phone": "0612345678", "newsletter": "yes"},
        ["not", "an", "object"],
    ],
)
def test_bodies_with_a_problem_go_to_the_serializer(body):
    assert fast_validated(PublicLeadInput, body) is None


def test_a_typical_event_takes_the_fast_path():
    body = {"session_id": "5b1e0c6a-0000-4000-a000-000000000001", "event_type": "form_step"}
    fast = fast_validated(EventInput, body | {"data": {"step": 2}})
    assert fast == serializer_answer(EventInput, body | {"data": {"step": 2}})
    assert fast["session_id"] == uuid.UUID(body["session_id"])
    assert fast_validated(EventInput, body)["data"] == {}


def test_serializers_with_hooks_or_other_fields_are_left_to_drf():
    class WithHook(serializers.Serializer):
        nom = OptionalText(10)

        def validate_nom(self, value):
            return value.upper()

    assert fast_validated(WithHook, {"nom": "a"}) is None
    assert fast_validated(PartnerLeadInput, {"phone": "0612345678", "form_code": "X"}) is None
    assert fast_validated(EventInput, {"session_id": "x", "event_type": "form_step"}) is None

    class WithOtherField(serializers.Serializer):
        count = serializers.IntegerField()

    assert fast_validated(WithOtherField, {"count": 1}) is None


def test_serializers_that_convert_or_generate_fields_are_left_to_drf():
    class Converts(serializers.Serializer):
        nom = OptionalText(10)

        def to_internal_value(self, data):
            return {"nom": "toujours"}

    class ModelBased(serializers.ModelSerializer):
        nom = OptionalText(10)

        class Meta:
            model = get_user_model()
            fields = ["nom", "username"]

    assert fast_validated(Converts, {"nom": "a"}) is None
    assert fast_validated(ModelBased, {"nom": "a", "username": "x"}) is None
