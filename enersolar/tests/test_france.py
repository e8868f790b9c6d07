"""Metropolitan departments (SPEC §3.1): normalisation, from the postal code,
and the reference list with official names."""

import pytest

from enersolar.france import DEPARTMENTS, department_from_postal_code, department_normalize


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", "01"),
        ("9", "09"),
        ("01", "01"),
        ("75", "75"),
        (" 75 ", "75"),
        ("95", "95"),
        ("2a", "2A"),
        ("2A", "2A"),
        ("2b", "2B"),
    ],
)
def test_department_normalize(value, expected):
    assert department_normalize(value) == expected


@pytest.mark.parametrize(
    "value", ["20", "96", "99", "971", "974", "0", "00", "2C", "100", "", "  ", None, "Paris"]
)
def test_department_normalize_rejects_what_is_not_a_metropolitan_department(value):
    assert department_normalize(value) is None


@pytest.mark.parametrize(
    ("postal_code", "expected"),
    [
        ("75011", "75"),
        ("01000", "01"),
        ("13001", "13"),
        ("95000", "95"),
        (" 75011 ", "75"),
        ("75 011", "75"),
        # Corsica: 200xx–201xx → Corse-du-Sud, 202xx–206xx → Haute-Corse.
        ("20000", "2A"),
        ("20167", "2A"),
        ("20190", "2A"),
        ("20200", "2B"),
        ("20290", "2B"),
        ("20600", "2B"),
    ],
)
def test_department_from_postal_code(postal_code, expected):
    assert department_from_postal_code(postal_code) == expected


@pytest.mark.parametrize(
    "postal_code",
    ["20700", "20999", "97100", "98000", "00100", "7501", "750111", "7501A", "", None, "abcde"],
)
def test_department_from_postal_code_rejects_bad_input(postal_code):
    assert department_from_postal_code(postal_code) is None


def test_96_metropolitan_departments_with_their_names():
    assert len(DEPARTMENTS) == 96
    expected_codes = {f"{n:02d}" for n in range(1, 96) if n != 20} | {"2A", "2B"}
    assert set(DEPARTMENTS) == expected_codes
    assert all(name.strip() for name in DEPARTMENTS.values())
    assert DEPARTMENTS["01"] == "Ain"
    assert DEPARTMENTS["2A"] == "Corse-du-Sud"
    assert DEPARTMENTS["2B"] == "Haute-Corse"
    assert DEPARTMENTS["75"] == "Paris"
    assert DEPARTMENTS["95"] == "Val-d'Oise"


@pytest.mark.django_db
def test_the_department_table_holds_the_same_reference_data():
    from enersolar.models import Department

    assert dict(Department.objects.values_list("code", "name")) == DEPARTMENTS
