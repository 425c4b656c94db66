from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class Figures(models.Model):
    """Figures too costly to count on every view at a large clinic — Insights for its usual ranges, the
    pipeline's flow over the last year — counted by the ``dashboard.refresh_figures`` beat task and shown
    with the time they were counted. One row per ``key``, replaced at each refresh."""

    key = models.CharField(max_length=80, unique=True)
    computed_at = models.DateTimeField()
    data = models.JSONField(encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = verbose_name_plural = "figures"

    def __str__(self) -> str:
        return f"{self.key} as of {self.computed_at:%Y-%m-%d %H:%M}"
