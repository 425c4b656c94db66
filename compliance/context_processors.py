from __future__ import annotations

from functools import cached_property

from .selectors import open_alert_count_capped

NAV_CAP = 99  # the navigation says "99+" past this


class OpenAlerts:
    """The navigation's count of open alerts, read only when a page draws the navigation (signed in):
    one query over the open-alert index, counting at most ``NAV_CAP + 1`` rows."""

    @classmethod
    def counted(cls, count: int) -> OpenAlerts:
        """The navigation's count from a page that counted the open alerts exactly already: no query more."""
        alerts = cls()
        alerts.__dict__["count"] = min(count, NAV_CAP + 1)
        return alerts

    @cached_property
    def count(self) -> int:
        return open_alert_count_capped(cap=NAV_CAP)

    @property
    def label(self) -> str:
        return f"{NAV_CAP}+" if self.count > NAV_CAP else str(self.count)


def navigation(request):
    return {"nav_open_alerts": OpenAlerts()}
