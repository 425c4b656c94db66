"""The Adherence panel's markup, written in Python from its context (``panels.adherence_panel_context``): its
template's lookups, filters and loops cost the patient page more than the panel's eight queries. The markup
is ``compliance/_adherence_panel.html``'s, byte for byte, whitespace included (``tests/compliance/
test_adherence_markup.py`` holds it to that template); every text is escaped (``accounts.markup.escaped``).
The patient's own words and ratings are written only where the context has them: for a clinical role.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils.safestring import SafeString, mark_safe

from accounts.dates import day_month, day_month_year, hour_minute
from accounts.markup import escaped

_ONE = Decimal(1)


def whole(value: float) -> str:
    """``{{ value|floatformat:"0" }}``: rounded half up, as Django's filter rounds (92.5 is "93")."""
    return str(int(Decimal(str(value)).quantize(_ONE, ROUND_HALF_UP)))


def _text_lines(value: str) -> str:
    """``{{ value|linebreaksbr }}`` of a plain string: escaped, each line break a ``<br>``."""
    return escaped(value.replace("\r\n", "\n").replace("\r", "\n")).replace("\n", "<br>")


_EMPTY = (
    '\n    <p class="text-body-secondary mb-0" id="adherence-empty">\n        No check-ins yet. Adherence and'
    " the patient's answers will gather here from their first check-in.\n    </p>\n\n"
)
_SCORE_NONE = "\n                        —\n                    "
_SCORE_NOTE_NONE = "\n                        No plan items reported in this window\n                    "
_UNDER = "\n                        Under the clinic's {}% threshold\n                    "
_AT_OR_ABOVE = "\n                        At or above the clinic's {}% threshold\n                    "
_NO_ENGAGEMENT = "\n                        No check-ins have closed in this window yet\n                    "
_ENGAGEMENT = (
    '\n                        <span class="fw-semibold">{}%</span>\n                        <span class="small">'
    "answered {} of {} check-in{}</span>\n                    "
)
_SUMMARY = (
    '\n        <div class="row g-3 mb-3" id="adherence-summary">\n            <div class="col-sm-4">\n'
    '                <div class="small text-body-secondary">{start} – {end}</div>\n'
    '                <div class="fs-3 fw-semibold" id="adherence-score">\n                    {score}\n'
    '                </div>\n                <div class="small">\n                    {note}\n'
    '                </div>\n            </div>\n            <div class="col-sm-4">\n'
    '                <div class="small text-body-secondary">Trend</div>\n'
    '                <div id="adherence-trend">{trend}</div>\n            </div>\n'
    '            <div class="col-sm-4">\n                <div class="small text-body-secondary">Engagement</div>\n'
    '                <div id="adherence-engagement">\n                    {engagement}\n'
    "                </div>\n            </div>\n        </div>\n    "
)
_WEEKLY = (
    '\n        <figure class="mb-3" id="adherence-weekly">\n            {chart}\n'
    '            <figcaption class="small text-body-secondary">\n                Last {weeks} weeks. A dashed'
    " outline is a week with no report: that is engagement, not adherence.\n            </figcaption>\n"
    "        </figure>\n    "
)
_HEATMAP = (
    '\n        <figure class="mb-3" id="adherence-heatmap">\n            {chart}\n'
    '            <figcaption class="small text-body-secondary">Each item of the current plan, week by week.'
    "</figcaption>\n        </figure>\n    "
)
_ANSWERS_HEADING = '\n    <h3 class="h6 mt-3">Latest answers</h3>\n    '
_NO_ANSWERS = '\n        <p class="text-body-secondary mb-0">No answers yet.</p>\n    '
_ANSWERS_OPEN = '\n        <ul class="list-unstyled mb-0" id="latest-answers">\n            '
_ANSWERS_CLOSE = "\n        </ul>\n        "
_WORDS_ARE_CLINICAL = (
    '\n            <p class="small text-body-secondary mt-2 mb-0">The patient\'s own words and self-ratings are'
    " read by their practitioners.</p>\n        "
)
_ANSWER = (
    '\n                <li class="border-top py-2" id="answer-{pk}">\n'
    '                    <div class="d-flex flex-wrap align-items-baseline gap-2">\n'
    '                        <span class="fw-semibold">{answered}</span>\n'
    '                        <span class="small text-body-secondary">check-in due {due} · {via}{amended}</span>\n'
    "                    </div>\n                    {received}\n"
    '                    <div class="small answer-barriers">\n                        {barriers}\n'
    "                    </div>\n                    {clinical}\n                </li>\n            "
)
_RECEIVED = '<div class="small">Answer received</div>'
_BARRIER = '\n                            <span class="badge badge-soft">{}</span>\n                        '
_NO_BARRIERS = (
    '\n                            <span class="text-body-secondary">No barriers chosen</span>\n'
    "                        "
)
_WORDS = (
    '\n                            <blockquote class="small border-start border-3 ps-2 my-1 text-break'
    ' answer-words">\n                                {}\n                            </blockquote>\n'
    "                        "
)
_NO_WORDS = (
    '\n                            <div class="small text-body-secondary">No words this week.</div>\n'
    "                        "
)
_RATINGS = (
    '\n                            <div class="small text-body-secondary answer-ratings">\n'
    "                                {}\n                            </div>\n                        "
)
_RATING = "\n                                    {} {}/10\n                                    {}\n                                "
_REPLY = (
    '\n                            <blockquote class="small border-start border-3 border-info ps-2 my-1'
    ' text-break answer-reply">\n                                <span class="text-body-secondary">Wrote back'
    " by {channel}, {when}:</span>\n                                {body}\n"
    "                            </blockquote>\n                        "
)


def _clinical_part(answer) -> str:
    words = _WORDS.format(_text_lines(answer.words)) if answer.words else _NO_WORDS
    ratings = answer.ratings
    if ratings:
        last = len(ratings) - 1
        rated = _RATINGS.format(
            "".join(
                _RATING.format(escaped(label), int(value), "" if n == last else "·")
                for n, (label, value) in enumerate(ratings)
            )
        )
    else:
        rated = ""
    replies = "".join(
        _REPLY.format(
            channel=escaped(str(reply.get_channel_display()).lower()),
            when=f"{day_month(reply.received_at)} {hour_minute(reply.received_at)}",
            body=_text_lines(reply.body),
        )
        for reply in answer.replies
    )
    return f"\n                        {words}\n                        {rated}\n                        {replies}\n                    "


def _answers(answers, clinical: bool) -> str:
    if not answers:
        return _NO_ANSWERS
    rows = [
        _ANSWER.format(
            pk=int(answer.pk),
            answered=day_month_year(answer.answered_at),
            due=day_month(answer.due_on),
            via=escaped(answer.via),
            amended=f" · changed {day_month(answer.amended_at)}" if answer.amended_at else "",
            received="" if clinical else _RECEIVED,
            barriers="".join(_BARRIER.format(escaped(barrier)) for barrier in answer.barriers)
            if answer.barriers
            else _NO_BARRIERS,
            clinical=_clinical_part(answer) if clinical else "",
        )
        for answer in answers
    ]
    return f"{_ANSWERS_OPEN}{''.join(rows)}{_ANSWERS_CLOSE}{'' if clinical else _WORDS_ARE_CLINICAL}\n    "


def adherence_panel_html(panel: dict) -> SafeString:
    """What ``compliance/_adherence_panel.html`` writes for ``panel`` (``adherence_panel_context``'s dict)."""
    if not panel["has_history"]:
        return mark_safe(_EMPTY)  # noqa: S308 — constant markup
    adherence = panel["adherence"]
    score, engagement = adherence.score, adherence.engagement
    closed = panel["closed_checkins"]
    if score is None:
        note = _SCORE_NOTE_NONE
    else:
        note = (_UNDER if panel["below_threshold"] else _AT_OR_ABOVE).format(escaped(panel["threshold"]))
    summary = _SUMMARY.format(
        start=day_month(adherence.window_start),
        end=day_month(adherence.window_end),
        score=_SCORE_NONE
        if score is None
        else f"\n                        {whole(score)}%\n                    ",
        note=note,
        trend=escaped(panel["trend_words"]),
        engagement=_NO_ENGAGEMENT
        if engagement is None
        else _ENGAGEMENT.format(
            whole(engagement), int(adherence.answered), int(closed), "" if closed == 1 else "s"
        ),
    )
    weekly = (
        _WEEKLY.format(chart=panel["weekly_chart"], weeks=int(panel["chart_weeks"]))
        if panel["weekly_chart"]
        else ""
    )
    heatmap = _HEATMAP.format(chart=panel["heatmap"]) if panel["heatmap"] else ""
    answers = _answers(panel["answers"], panel["clinical"])
    # The charts are the builders' safe SVG; every other text above is escaped, a number or a constant.
    return mark_safe(f"\n    {summary}\n    {weekly}\n    {heatmap}{_ANSWERS_HEADING}{answers}\n\n")  # noqa: S308


_THEN_NOW_NONE = (
    '\n  \n    <p class="text-body-secondary mb-0">Then and now shows once two weekly check-ins are answered.</p>\n'
    "  \n\n"
)
_THEN_NOW = (
    '\n  \n    <table class="table table-sm mb-2" id="then-and-now">\n      <thead>\n        <tr>\n'
    '          <th scope="col"></th>\n'
    '          <th scope="col">Then <span class="small text-body-secondary d-block">week of {then_day}</span></th>\n'
    '          <th scope="col">Now <span class="small text-body-secondary d-block">week of {now_day}</span></th>\n'
    "        </tr>\n      </thead>\n      <tbody>\n        <tr>\n"
    '          <th scope="row">Adherence</th>\n          <td>{then_score}</td>\n          <td>{now_score}</td>\n'
    "        </tr>\n        {ratings}\n      </tbody>\n    </table>\n    {for_practitioners}\n    {follow_ups}\n"
    "  \n\n"
)
_RATING_ROW = (
    '\n            <tr>\n              <th scope="row">{label} <span class="small text-body-secondary">(0–10)</span>'
    "</th>\n              <td>{then}</td>\n              <td>\n                {now}\n              </td>\n"
    "            </tr>\n          "
)
_RATINGS_ARE_CLINICAL = (
    '\n      <p class="small text-body-secondary">The patient\'s own 0–10 ratings are for practitioners to read.</p>'
    "\n    "
)
_FOLLOW_UPS = (
    '\n      <h3 class="h6">How are you now?</h3>\n      <ul class="list-unstyled small mb-0" id="follow-ups">\n'
    "        {}\n      </ul>\n    "
)
_FOLLOW_UP = "\n          <li>\n            {day}: {status}\n            {ratings}\n          </li>\n        "


def _or_dash(value) -> str:
    """``{{ value|default_if_none:"—" }}``."""
    return "—" if value is None else escaped(value)


def _score(score: float | None) -> str:
    return "—" if score is None else f"{whole(score)}%"


def then_and_now_panel_html(panel: dict) -> SafeString:
    """What ``compliance/_then_and_now_panel.html`` writes for ``panel`` (``then_and_now_panel_context``'s
    dict): the 0–10 self-ratings only where ``clinical``."""
    tn = panel["then_and_now"]
    if not tn:
        return mark_safe(_THEN_NOW_NONE)  # noqa: S308 — constant markup
    clinical = panel["clinical"]
    ratings = ""
    if clinical:
        rows = []
        for label, value in tn.then.ratings:
            now = "".join(
                f"\n                  {_or_dash(now_value) if now_label == label else ''}\n                "
                for now_label, now_value in tn.now.ratings
            )
            rows.append(_RATING_ROW.format(label=escaped(label), then=_or_dash(value), now=now))
        ratings = f"\n          {''.join(rows)}\n        "
    follow_ups = ""
    if tn.follow_ups:
        items = []
        for due_on, status, rated in tn.follow_ups:
            shown = ""
            if clinical:
                shown = "".join(
                    f"\n                {f'· {escaped(label)} {escaped(value)}/10' if value is not None else ''}\n"
                    "              "
                    for label, value in rated
                )
                shown = f"\n              {shown}\n            "
            items.append(
                _FOLLOW_UP.format(
                    day=day_month_year(due_on), status=escaped(str(status).lower()), ratings=shown
                )
            )
        follow_ups = _FOLLOW_UPS.format("".join(items))
    html = _THEN_NOW.format(
        then_day=day_month_year(tn.then.due_on),
        now_day=day_month_year(tn.now.due_on),
        then_score=_score(tn.then.score),
        now_score=_score(tn.now.score),
        ratings=ratings,
        for_practitioners="" if clinical else _RATINGS_ARE_CLINICAL,
        follow_ups=follow_ups,
    )
    return mark_safe(html)  # noqa: S308 — every text above is escaped, a number or a constant
