from functools import cached_property

from .selectors import NAV_CAP, unread_conversation_count


class UnreadConversations:
    """The navigation's count of the user's patients who wrote something they have not read, read only when a
    page draws the navigation: one query, counting at most ``NAV_CAP + 1``."""

    def __init__(self, user):
        self.user = user

    @cached_property
    def count(self) -> int:
        if not getattr(self.user, "is_authenticated", False):
            return 0
        return unread_conversation_count(self.user, cap=NAV_CAP)

    @property
    def label(self) -> str:
        return f"{NAV_CAP}+" if self.count > NAV_CAP else str(self.count)


def navigation(request):
    return {"nav_unread_conversations": UnreadConversations(getattr(request, "user", None))}
