"""How the import keeps a million-lead load fast on PostgreSQL: the planner's
statistics refreshed as the tables grow."""

import pytest
from django.db import connection

from leads.models import Lead
from leads.tests.factories import LeadFactory
from legacy.importer.statistics import FIRST_ANALYZE, Statistics

pytestmark = pytest.mark.django_db


def _estimated_rows(model) -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
        )
        return cursor.fetchone()[0]


@pytest.mark.postgres  # ANALYZE and pg_class are PostgreSQL's
def test_a_table_is_analyzed_each_time_the_rows_written_into_it_double():
    LeadFactory.create_batch(3)
    statistics = Statistics()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")  # the statistics of an empty-ish table
    assert _estimated_rows(Lead) == 3

    LeadFactory.create_batch(2)
    statistics.written(Lead, FIRST_ANALYZE - 1)
    assert _estimated_rows(Lead) == 3  # not yet

    statistics.written(Lead, 1)
    assert _estimated_rows(Lead) == 5  # FIRST_ANALYZE rows written: analyzed

    LeadFactory.create_batch(1)
    statistics.written(Lead, FIRST_ANALYZE - 1)
    assert _estimated_rows(Lead) == 5  # next at twice as many

    statistics.written(Lead, 1)
    assert _estimated_rows(Lead) == 6
