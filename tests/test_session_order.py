"""Browser tests run last: after them, DJANGO_ALLOW_ASYNC_UNSAFE stays set and Playwright's loop keeps running."""

import os


def is_browser(item) -> bool:
    return item.get_closest_marker("browser") is not None


def test_in_this_session_no_other_test_comes_after_a_browser_test(request):
    """Checks the order of the very session it runs in: in a whole run (make test, CI), all of it."""
    items = request.session.items
    first_browser = next((i for i, item in enumerate(items) if is_browser(item)), len(items))
    after = [item.nodeid for item in items[first_browser:] if not is_browser(item)]
    assert not after, f"these run after a browser test: {after[:5]}"
    assert "DJANGO_ALLOW_ASYNC_UNSAFE" not in os.environ, "a browser test ran before this one"
