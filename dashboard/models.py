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


# --- Daily roll-ups: any Insights range up to a year is a sum of these (``dashboard.rollups``) ----------


class DailyFigures(models.Model):
    """An additive count of one clinic day (``settings.TIME_ZONE``): ``measure`` says what is counted and how
    ``key`` reads (adherence tallies by the answers' due day, requests sent and answered per channel and
    patient-local hour by the day they were sent, barriers named by the day answered, journey moves by the
    day made). A range's figure is the sum of its days' rows."""

    day = models.DateField()
    measure = models.CharField(max_length=20)
    key = models.CharField(max_length=60)
    n = models.PositiveIntegerField()

    class Meta:
        # The unique index leads with the day: it is the index a range's read and a chunk's delete use.
        verbose_name = verbose_name_plural = "daily figures"
        constraints = [
            models.UniqueConstraint(fields=["day", "measure", "key"], name="dailyfigures_one_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.measure} {self.key}: {self.n}"


class DailyLengths(models.Model):
    """A histogram of one clinic day, for the medians (which cannot be summed, but histograms can): how many
    waits from request to answer took ``length`` minutes (bucketed, ``rollups.wait_bucket``), by the day the
    request was sent; how many stays in a stage lasted ``length`` tenths of a day (``rollups.stay_bucket``),
    by the day the stay ended."""

    day = models.DateField()
    measure = models.CharField(max_length=20)
    key = models.CharField(max_length=60, blank=True)
    length = models.PositiveIntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        verbose_name = verbose_name_plural = "daily lengths"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "measure", "key", "length"], name="dailylengths_one_per_length"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.measure} {self.key} {self.length}: {self.n}"


class DailyPatients(models.Model):
    """The patients who reported on a plan item in the check-ins due on ``day``, as a bitmap of their ids
    (bit ``id`` set, little-endian): distinct patients over a range are the OR of its days, exactly."""

    day = models.DateField(unique=True)
    bits = models.BinaryField()

    class Meta:
        verbose_name = verbose_name_plural = "daily patients"

    def __str__(self) -> str:
        return f"{self.day}: {int.from_bytes(bytes(self.bits), 'little').bit_count()} patients"


class DailyFiguresDay(models.Model):
    """A clinic day whose roll-ups are stored, and when they were counted. ``final``: counted after the day
    could still change (past ``rollups.recount_days``), so it is never counted again; a day not final is
    recounted at every refresh and is only read while its count is fresh."""

    day = models.DateField(unique=True)
    counted_at = models.DateTimeField()
    final = models.BooleanField(default=False)

    class Meta:
        verbose_name = "day of daily figures"
        verbose_name_plural = "days of daily figures"

    def __str__(self) -> str:
        return f"{self.day} counted {self.counted_at:%Y-%m-%d %H:%M}"


# --- Month roll-ups: a range's whole months, summed once from their days (``dashboard.rollups``) --------


class MonthlyRollup(models.Model):
    """A complete clinic month whose month roll-ups are stored: ``MonthlyFigures``, ``MonthlyLengths`` and
    ``MonthlyPatients`` hold the sums of its days' rows ``month`` (its first day) to ``through`` (its last),
    as they stood when its newest day was counted (``counted_at``). Removed in the same transaction as any of
    its days is counted again, and built again by the same refresh: a month here always equals its days."""

    month = models.DateField(unique=True)
    through = models.DateField()
    counted_at = models.DateTimeField()

    class Meta:
        verbose_name = "month of monthly figures"
        verbose_name_plural = "months of monthly figures"

    def __str__(self) -> str:
        return (
            f"{self.month:%Y-%m} through {self.through}, its days counted by {self.counted_at:%Y-%m-%d %H:%M}"
        )


class MonthlyFigures(models.Model):
    """The sum of a month's ``DailyFigures`` per ``measure`` and ``key`` (``month``: its first day)."""

    month = models.DateField()
    measure = models.CharField(max_length=20)
    key = models.CharField(max_length=60)
    n = models.PositiveIntegerField()

    class Meta:
        verbose_name = verbose_name_plural = "monthly figures"
        constraints = [
            models.UniqueConstraint(fields=["month", "measure", "key"], name="monthlyfigures_one_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.measure} {self.key}: {self.n}"


class MonthlyLengths(models.Model):
    """The sum of a month's ``DailyLengths`` histograms: how many lengths of each bucket its days counted."""

    month = models.DateField()
    measure = models.CharField(max_length=20)
    key = models.CharField(max_length=60, blank=True)
    length = models.PositiveIntegerField()
    n = models.PositiveIntegerField()

    class Meta:
        verbose_name = verbose_name_plural = "monthly lengths"
        constraints = [
            models.UniqueConstraint(
                fields=["month", "measure", "key", "length"], name="monthlylengths_one_per_length"
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.measure} {self.key} {self.length}: {self.n}"


class MonthlyPatients(models.Model):
    """The OR of a month's ``DailyPatients`` bitmaps: the patients who reported on any of its days."""

    month = models.DateField(unique=True)
    bits = models.BinaryField()

    class Meta:
        verbose_name = verbose_name_plural = "monthly patients"

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {int.from_bytes(bytes(self.bits), 'little').bit_count()} patients"
