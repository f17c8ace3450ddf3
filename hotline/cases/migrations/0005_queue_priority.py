"""The queue serves urgent cases first, then high, then normal, each oldest first: its slices are one
status, one assignee (or none, or any) and one priority, read in ``created_at`` order from an index
with that equality prefix (hotline/console/queue.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_status_counts")]

    operations = [
        migrations.RunSQL(
            sql=[
                "DROP INDEX case_assignee_queue",
                "CREATE INDEX case_assignee_queue ON cases_case (status, assignee_id, priority, created_at)",
                "CREATE INDEX case_priority_queue ON cases_case (status, priority, created_at)",
            ],
            reverse_sql=[
                "DROP INDEX case_priority_queue",
                "DROP INDEX case_assignee_queue",
                "CREATE INDEX case_assignee_queue ON cases_case (status, assignee_id, created_at)",
            ],
            state_operations=[],
        ),
    ]
