"""The daily count of questions the bot answered on its own from the knowledge base (figures).

One upsert per answer, in the update's transaction; only the day and a number are stored.
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from hotline.kb.models import AutoAnswerDay

_TABLE = AutoAnswerDay._meta.db_table


def count_auto_answer() -> None:
    day = timezone.localdate()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} (day, count) VALUES (%s, 1) "  # noqa: S608 (the table name is ours)
            f"ON CONFLICT (day) DO UPDATE SET count = {_TABLE}.count + 1",
            [day],
        )
