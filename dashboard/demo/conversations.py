"""The demo's conversations and advocates, put on the clock like everything else.

A few patients at check-ins text back in the last days (one about their supplements, the morning after a
check-in request, so it lands on that check-in); one of them got a reply from their lead and wrote again, so the
inbox has conversations read and unread. The longest-standing advocate has agreed to referral and testimonial
messages, given a testimonial in their own words, has a personal referral link, and someone they referred.
Graduations need nothing here: moving a journey to graduated celebrates it (``journeys.services.graduation``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from journeys.models import Stage
from nudges.services import conversation_mark_read, nudge_send_one_off, sms_inbound
from patients.models import Patient
from patients.services import (
    advocate_link_for,
    marketing_consent_record,
    referral_link_attach,
    testimonial_record,
)

from .clock import Clock
from .journeys import Story

TEXTS = (
    (
        "I'm struggling with the supplements this week, the magnesium upsets my stomach in the morning.",
        "Thank you. Taking it with dinner instead, I'll let you know how it goes.",
    ),
    ("Feeling much more hopeful after our call. Can I have coffee with the probiotic?",),
    ("Sorry I missed last week, work was chaos. Back on track now I think.",),
)
REPLY = "Thank you for telling us. Try it with your evening meal instead, and tell us how the week goes."
TESTIMONIAL = (
    "For the first time, someone asked what my week was really like and changed the plan around it. "
    "I have my energy back."
)


def _texters(stories: list[Story]) -> list[Story]:
    """Patients at check-ins who text, a few per lead practitioner, so every lead has someone to read."""
    chosen: list[Story] = []
    per_lead: dict[int, int] = {}
    for story in stories:
        plan = story.patient_plan
        if story.plan.stage != Stage.CHECK_INS or plan is None or not plan.data.get("phone"):
            continue
        if not plan.consent_sms or plan.pattern == "withdrew_sms" or story.person.archived:
            continue
        lead = plan.lead.pk
        if per_lead.get(lead, 0) < 2:
            per_lead[lead] = per_lead.get(lead, 0) + 1
            chosen.append(story)
    return chosen[: len(TEXTS)]


def plan_conversations(stories: list[Story], *, clock: Clock, now: datetime) -> None:
    """Put the last days' texts, the one reply and the second text on the clock."""
    for n, story in enumerate(_texters(stories)):
        texts = TEXTS[n]
        first_at = (now - timedelta(days=1, hours=2 + 3 * n)).replace(second=0, microsecond=0)

        def text(story=story, body=texts[0], key=f"demo-sms-{story.index}-1") -> None:
            sms_inbound(from_number=story.patient.phone, body=body, provider_id=key)

        clock.at(first_at, text)
        if len(texts) > 1:

            def answer(story=story) -> None:
                conversation_mark_read(patient=story.patient, user=story.lead)
                nudge_send_one_off(patient=story.patient, actor=story.lead, channel="sms", message=REPLY)

            def again(story=story, body=texts[1], key=f"demo-sms-{story.index}-2") -> None:
                sms_inbound(from_number=story.patient.phone, body=body, provider_id=key)

            clock.at(first_at + timedelta(hours=2), answer)
            clock.at(now - timedelta(hours=3), again)


def plan_advocate(stories: list[Story], *, clock: Clock, now: datetime, staff) -> None:
    """The longest-standing advocate: marketing consent, a testimonial, a referral link and a referral."""
    advocates = [s for s in stories if s.plan.stage == Stage.ADVOCATE and not s.person.archived]
    if not advocates:
        return
    advocate = min(advocates, key=lambda s: s.begins)
    moment = max(advocate.entered[Stage.ADVOCATE] + timedelta(days=1), now - timedelta(days=3))
    later = [s for s in stories if advocate.begins < s.begins < moment and s is not advocate]

    def speak() -> None:
        patient = advocate.patient
        marketing_consent_record(patient=patient, granted=True, via="told their practitioner", actor=staff)
        testimonial_record(
            patient=patient, words=TESTIMONIAL, places=["website", "print"], show_name="", actor=staff
        )
        advocate_link_for(patient=patient, actor=staff)
        if not Patient.objects.filter(referred_by=patient).exists():
            for story in later:
                if referral_link_attach(referred=story.patient, advocate=patient):
                    break

    clock.at(moment, speak)
