"""A case keeps when the hotline first answered it (``first_answer_at``), written by the action that
stores the first outbound message, so that the queue's "unanswered", "over target" and the figures'
time to first answer read a column of the case instead of searching its messages. Existing cases
get it from their first outbound message."""

from typing import Any

from django.db import migrations, models
from django.db.models import Min, OuterRef, Subquery


def fill(apps: Any, schema_editor: Any) -> None:
    case = apps.get_model("cases", "Case")
    message = apps.get_model("cases", "Message")
    first = (
        message.objects.filter(case=OuterRef("pk"), direction="out")
        .order_by()
        .values("case")
        .annotate(first=Min("created_at"))
        .values("first")
    )
    case.objects.using(schema_editor.connection.alias).filter(first_answer_at__isnull=True).update(
        first_answer_at=Subquery(first)
    )


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_queue_priority")]

    operations = [
        migrations.AddField(model_name="case", name="first_answer_at", field=models.DateTimeField(null=True)),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
