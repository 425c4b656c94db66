"""Turn a nudge's wording into subject, text and HTML — over a context of plain values only.

Admin-edited wording is rendered by a template engine that sees strings and numbers, never model
instances, so no template can reach into the database. The HTML part is the text part, escaped,
with links and line breaks, inside one shared layout: a patient's own words can never become markup.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import Lexer, TextNode, TokenType, Variable, VariableNode
from django.template.defaultfilters import default as default_filter
from django.template.loader import render_to_string
from django.templatetags.static import static

from accounts.queries import Compiled, built_per_thread
from patients.models import Channel

from .models import Kind, MessageTemplate

PLAIN_TYPES = (str, int, float, bool)
DEFAULTS_DIR = Path(settings.BASE_DIR) / "templates" / "nudges"
SMS_OPT_OUT = "Reply STOP to opt out."

# One engine for admin-written wording: default tags and filters, no loaders, no debug pages.
_engine = Engine(debug=False, autoescape=False, string_if_invalid="")


class WordingError(Exception):
    """The wording of a message template cannot be rendered."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=128)
def default_wording(kind: str, channel: str) -> tuple[str, str]:
    """(subject, body) shipped with Alliance for a kind and channel (read once per process: they ship with it)."""
    if channel == Channel.SMS:
        return "", (DEFAULTS_DIR / f"{kind}_sms.txt").read_text().strip()
    subject = (DEFAULTS_DIR / f"{kind}_subject.txt").read_text().strip()
    return subject, (DEFAULTS_DIR / f"{kind}_body.txt").read_text().strip()


def wording_for(kind: str, channel: str, templates: dict | None = None) -> tuple[str, str]:
    """The admin's active wording for a kind and channel, else the shipped default."""
    if templates is not None:
        template = templates.get((kind, channel))
    else:
        template = MessageTemplate.objects.filter(kind=kind, channel=channel, active=True).first()
    if template is not None and template.active:
        return template.subject, template.body
    return default_wording(kind, channel)


def wording_mentions(kind: str, channel: str, name: str, templates: dict | None = None) -> bool:
    """Whether the wording for a kind and channel names ``name`` at all (so a value it never shows need not be
    made: the signed unsubscribe link of a text message, say)."""
    subject, body = wording_for(kind, channel, templates)
    return name in subject or name in body


@built_per_thread
def _active() -> Compiled[MessageTemplate]:
    return Compiled(MessageTemplate.objects.filter(active=True))


def active_templates() -> dict[tuple[str, str], MessageTemplate]:
    """Every active template in one query (its SQL compiled once per thread), for a dispatch batch or a page."""
    return {(t.kind, t.channel): t for t in _active().rows()}


@built_per_thread
def _active_one() -> dict[tuple[str, str], Compiled[MessageTemplate]]:
    return {
        (kind, channel): Compiled(MessageTemplate.objects.filter(active=True, kind=kind, channel=channel))
        for kind in Kind.values
        for channel in Channel.values
    }


def active_templates_for(kind: str, channel: str) -> dict[tuple[str, str], MessageTemplate]:
    """``active_templates()`` of one kind and channel (a template a kind and channel at most): one query
    whose SQL is compiled once per thread, for a page that renders one message."""
    read = _active_one().get((kind, channel))
    if read is None:  # a kind or channel of no choice: the whole wording, as it always was
        return active_templates()
    return {(t.kind, t.channel): t for t in read.rows()}


def plain(context: dict) -> dict:
    """Keep only plain values: the restricted context a template may see."""
    return {str(k): v for k, v in context.items() if isinstance(v, PLAIN_TYPES) or v is None}


# Wording may choose and repeat words; it may not load, include, reverse or dump anything.
ALLOWED_TAGS = {
    "if", "elif", "else", "endif", "for", "empty", "endfor", "with", "endwith",
    "firstof", "comment", "endcomment", "spaceless", "endspaceless", "now",
}  # fmt: skip


def check_wording(source: str) -> None:
    """Raise WordingError if the wording uses a tag outside ``ALLOWED_TAGS`` or does not compile."""
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents.split() else ""
            if name not in ALLOWED_TAGS:
                raise WordingError(
                    f"“{{% {name} %}}” cannot be used in a message; use {{{{ name }}}} and {{% if %}}."
                )
    try:
        _engine.from_string(source)
    except TemplateSyntaxError as error:
        raise WordingError(str(error)) from error


@lru_cache(maxsize=256)
def _compiled(source: str):
    """Check and compile wording once per text: a batch renders the same few templates many times."""
    check_wording(source)
    return _engine.from_string(source)


# Names a template resolves from its context's builtins, whatever the context holds.
_BUILTIN_NAMES = frozenset(Context().dicts[0])

# A piece of wording: its literal text, or a value's name and the words its ``default`` filter gives.
type Piece = tuple[str, str | None, str | None]


@lru_cache(maxsize=256)
def _pieces(source: str) -> tuple[Piece, ...] | None:
    """The wording as literal text and plain ``{{ name }}`` or ``{{ name|default:"words" }}`` values, in order,
    when that is all it is (every shipped wording); else None (a tag, a dotted name, another filter). Read from
    the engine's own compiled nodes, once per text."""
    pieces: list[Piece] = []
    for node in _compiled(source).nodelist:
        if type(node) is TextNode:
            pieces.append((node.s, None, None))
            continue
        if type(node) is not VariableNode:
            return None
        expression = node.filter_expression
        var = expression.var
        if (
            not isinstance(var, Variable)
            or var.literal is not None
            or var.translate
            or var.lookups is None
            or len(var.lookups) != 1
            or var.lookups[0] in _BUILTIN_NAMES
        ):
            return None
        if not expression.filters:
            pieces.append(("", var.lookups[0], None))
            continue
        if len(expression.filters) != 1:
            return None
        func, args = expression.filters[0]
        if func is not default_filter or len(args) != 1 or args[0][0] or not isinstance(args[0][1], str):
            return None
        pieces.append(("", var.lookups[0], str(args[0][1])))
    return tuple(pieces)


def _filled(pieces: tuple[Piece, ...], context: dict) -> str | None:
    """What the engine renders of ``pieces`` over ``context`` (autoescape off, a missing value the empty
    string, ``default`` as ``value or words``) while every value named is a plain ``str``; else None."""
    out = []
    for text, name, words in pieces:
        if name is None:
            out.append(text)
            continue
        value = context.get(name, "")
        if type(value) is not str:  # a number or None: the engine's localisation decides how it reads
            return None
        out.append((value or words) if words is not None else value)
    return "".join(out)


def _render(source: str, context: dict) -> str:
    pieces = _pieces(source)  # the wording checked and compiled, the first time
    if pieces is not None:
        filled = _filled(pieces, context)
        if filled is not None:
            return filled
    template = _compiled(source)
    try:
        return template.render(Context(context, autoescape=False))
    except Exception as error:  # any failure of admin-written wording is the wording's, never the batch's
        raise WordingError(f"the wording does not render: {error}") from error


def render_message(
    *, kind: str, channel: str, context: dict, templates: dict | None = None, with_html: bool = True
) -> Rendered:
    """Render one message. ``context`` must already be plain (see ``plain``). Without ``with_html``, an
    email's HTML part is left empty: a page that shows the subject and text has no use for it."""
    subject_source, body_source = wording_for(kind, channel, templates)
    body = _render(body_source, context).strip()
    if channel == Channel.SMS:
        return Rendered(subject="", text=f"{body} {SMS_OPT_OUT}", html="")
    subject = " ".join(_render(subject_source, context).split())[:255]
    html = (
        render_to_string("nudges/email.html", {**context, "subject": subject, "body": body})
        if with_html
        else ""
    )
    text = body
    if context.get("unsubscribe_url"):  # plain-text readers get the way out too, not only the HTML footer
        text += f"\n\n--\nTo stop these messages: {context['unsubscribe_url']}"
    return Rendered(subject=subject, text=text, html=html)


def render_line(*, kind: str, channel: str, context: dict, templates: dict | None = None) -> Rendered:
    """What a list of messages shows of one: an email's subject (its text only when the subject renders
    empty), a text message's words, with none of the email's HTML (its urlized body, the page around it)
    that only the whole message needs. ``context`` must already be plain."""
    subject_source, body_source = wording_for(kind, channel, templates)
    if channel == Channel.SMS:
        return Rendered(subject="", text=f"{_render(body_source, context).strip()} {SMS_OPT_OUT}", html="")
    subject = " ".join(_render(subject_source, context).split())[:255]
    return Rendered(subject=subject, text="" if subject else _render(body_source, context).strip(), html="")


SAMPLE_CONTEXT = {
    "first_name": "Renée",
    "clinic_name": "Alliance Functional Medicine",
    "practitioner_name": "Dr. Maya Rivera",
    "visit_kind": "intake visit",
    "visit_when": "Tuesday 14 April at 10:00",
    "checkin_url": "https://crm.example/c/sample-token/",
    "questionnaire_url": "https://crm.example/q/sample-token/",
    "questionnaire_until": "Tuesday 14 April at 10:00",
    "unsubscribe_url": "https://crm.example/u/sample-token/",
    "referred_name": "José",
    "subject": "A note from Dr. Rivera",
    "message": "Your lab results are in and they look encouraging. Let's talk them through on Thursday.",
    "sender_name": "Dr. Maya Rivera",
}


def preview(kind: str, channel: str, subject: str, body: str) -> Rendered:
    """Render wording that is being edited, on sample data (for the admin preview)."""
    template = MessageTemplate(kind=kind, channel=channel, subject=subject, body=body, active=True)
    return render_message(
        kind=kind, channel=channel, context=SAMPLE_CONTEXT, templates={(kind, channel): template}
    )


# --- The admin preview under the Content-Security-Policy ----------------------------------------------
# An email carries its styles in style="" attributes (mail clients drop stylesheets), and the CSP, which a
# srcdoc frame inherits, refuses every one of them. The preview swaps each attribute for a class named after
# its declarations; static/css/email-preview.css defines those classes with the same declarations
# (tests/nudges/test_admin.py fails, naming the missing rule, when nudges/email.html changes without it).
PREVIEW_STYLESHEET = "css/email-preview.css"
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')
_HEAD_END = "</head>"


def style_declarations(style: str) -> str:
    """A style attribute's declarations in one spelling: ``margin: 0; color:#333;`` → ``margin:0;color:#333``."""
    parts = (part.split(":", 1) for part in style.split(";") if ":" in part)
    return ";".join(f"{name.strip().lower()}:{_spelling(value)}" for name, value in parts)


def _spelling(value: str) -> str:
    return re.sub(r"\s*,\s*", ",", " ".join(value.split()))


def preview_class(style: str) -> str:
    return "email-" + hashlib.sha256(style_declarations(style).encode()).hexdigest()[:10]


def preview_document(html: str) -> str:
    """The rendered email as the admin preview frame shows it: its style attributes as classes, and the
    stylesheet that defines them. Only our layout writes a style attribute: the wording in it is escaped,
    so a quote in a patient's or an admin's words cannot open one."""

    def as_class(match: re.Match) -> str:
        return f' class="{preview_class(match[1])}"'

    document = _STYLE_ATTRIBUTE.sub(as_class, html)
    link = f'<link rel="stylesheet" href="{static(PREVIEW_STYLESHEET)}">'
    return document.replace(_HEAD_END, f"{link}{_HEAD_END}", 1)


__all__ = [
    "SAMPLE_CONTEXT",
    "Kind",
    "Rendered",
    "WordingError",
    "check_wording",
    "preview",
    "preview_document",
    "render_message",
]
