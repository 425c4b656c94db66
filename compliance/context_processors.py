from functools import cached_property

from .selectors import open_alert_count_capped

NAV_CAP = 99  # the navigation says "99+" past this


class OpenAlerts:
    """The navigation's count of open alerts, read only when a page draws the navigation (signed in):
    one query over the open-alert index, counting at most ``NAV_CAP + 1`` rows."""

    @cached_property
    def count(self) -> int:
        return open_alert_count_capped(cap=NAV_CAP)

    @property
    def label(self) -> str:
        return f"{NAV_CAP}+" if self.count > NAV_CAP else str(self.count)


def navigation(request):
    return {"nav_open_alerts": OpenAlerts()}
