"""accounts.once: a look is rendered once and kept, and what rendered it is not kept with it."""

import contextlib
import gc
import weakref

from accounts import once


class Form:
    def __init__(self, html: str) -> None:
        self.html = html
        self.renders = 0

    def render(self) -> str:
        self.renders += 1
        return self.html


def test_a_look_is_rendered_once_and_another_look_again():
    first, second = Form("<a>"), Form("<b>")
    assert once.rendered_once(("test look", 1), first.render) == "<a>"
    assert once.rendered_once(("test look", 1), second.render) == "<a>"  # kept: the second is not asked
    assert (first.renders, second.renders) == (1, 0)
    assert once.rendered_once(("test look", 2), second.render) == "<b>" and second.renders == 1


def test_the_kept_look_holds_nothing_of_the_form_that_rendered_it():
    form = Form("<c>")
    seen = weakref.ref(form)
    once.rendered_once(("test look", "kept"), form.render)
    del form
    gc.collect()
    assert seen() is None  # no form (nor a patient behind it) lives on in the cache


def test_a_render_that_fails_is_not_kept():
    def broken() -> str:
        raise ValueError("no")

    with contextlib.suppress(ValueError):
        once.rendered_once(("test look", "broken"), broken)
    assert once.rendered_once(("test look", "broken"), Form("<d>").render) == "<d>"


def test_the_cache_is_bounded():
    assert once._kept.cache_info().maxsize == once.LOOKS_KEPT
