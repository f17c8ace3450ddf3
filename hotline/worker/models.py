from __future__ import annotations

from django.db import models


class ScheduledJob(models.Model):
    """When a periodic job next runs. Workers claim a due run with a conditional update, so with
    several workers each run happens once."""

    name = models.CharField(max_length=64, primary_key=True)
    next_run_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True)
    last_finished_at = models.DateTimeField(null=True)
    last_error = models.CharField(max_length=200, blank=True)
