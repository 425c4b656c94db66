"""The intake Alliance ships with: the *Your story* questionnaire (version 1, published) and the clinic's three
agreements. Installed by the data migration ``journeys/0007``; an admin edits them afterwards (a new version
of the questionnaire; a new version of an agreement's wording).

``install`` takes the model classes, so the migration passes its historical models and tests the real ones.
"""

from __future__ import annotations

SLUG = "your-story"
TITLE = "Your story"
INTRO = (
    "Thank you for trusting us with your health. Before we meet, we would love to hear your story in your own "
    "words. There are no right or wrong answers, and you can skip anything you would rather tell us in person. "
    "Everything is saved as you go: stop whenever you like and come back with the same link, on any device."
)

# (link id, title, intro, note field, [(link id, kind, text, help, options, low, high)])
SECTIONS: list[tuple[str, str, str, str, list[tuple[str, str, str, str, str, str, str]]]] = [
    (
        "brings-you",
        "What brings you here",
        "Start wherever feels right. A few sentences are plenty.",
        "story",
        [
            ("main-concern", "long_text", "In your own words, what brings you to us?", "", "", "", ""),
            ("how-long", "short_text", "How long has this been part of your life?", "For example: about two years.", "", "", ""),
            ("affects", "scale", "How much does it affect your everyday life at the moment?", "", "", "Hardly at all", "Very much"),
        ],
    ),
    (
        "tried",
        "What you have tried",
        "Every attempt teaches us something, including the ones that did not help.",
        "tried",
        [
            ("tried-what", "long_text", "What have you tried so far, and how did it go?", "Diets, treatments, practitioners, anything at all.", "", "", ""),
            ("helped-most", "short_text", "Has anything helped, even a little?", "", "", "", ""),
        ],
    ),
    (
        "timeline",
        "A timeline of your health",
        "Going back as far as you like: the turning points, big or small.",
        "story",
        [
            ("turning-points", "long_text", "What were the turning points in your health?", "Illnesses, moves, losses, new jobs, babies: whatever stands out.", "", "", ""),
            ("last-felt-well", "date", "Roughly when did you last feel really well?", "An approximate date is perfect.", "", "", ""),
            ("hospital", "yes_no", "Have you had any hospital stays or operations?", "If yes, tell us a little about them.", "", "", ""),
        ],
    ),
    (
        "symptoms",
        "How you are feeling",
        "List whatever is bothering you, with how strong it is and since when.",
        "body",
        [
            ("symptom-list", "symptoms", "Your symptoms", "Severity from 0 (barely there) to 10 (the worst it could be).", "", "", ""),
        ],
    ),
    (
        "goals",
        "Your goals",
        "This is the heart of it: where would you like to be?",
        "goals",
        [
            ("winning", "long_text", "What would feel like winning?", "Imagine six months from now: what is different?", "", "", ""),
            ("matters-most", "multiple_choice", "What matters most to you right now?", "Choose as many as you like.", "More energy\nBetter sleep\nCalmer digestion\nLess pain\nClearer thinking\nSteadier mood\nSomething else", "", ""),
        ],
    ),
    (
        "medications",
        "Medications and supplements",
        "Everything you take at the moment, prescribed or not. It helps us keep you safe.",
        "body",
        [
            ("medication-list", "medications", "What you take", "The name, the dose if you know it, and how often.", "", "", ""),
            ("allergies", "yes_no", "Do you have any allergies or reactions to medicines or foods?", "If yes, what happens?", "", "", ""),
        ],
    ),
    (
        "diet-rhythm",
        "Food and your daily rhythm",
        "No judgement here: we just want a picture of a normal day.",
        "body",
        [
            ("eating-style", "single_choice", "Which is closest to how you eat most days?", "", "A bit of everything\nMostly plants\nVegetarian\nVegan\nLow-carb or keto\nI follow another plan", "", ""),
            ("typical-day", "long_text", "What does a typical day of eating and drinking look like?", "", "", "", ""),
            ("daily-rhythm", "long_text", "And the rest of the day: work, movement, time outdoors?", "", "", "", ""),
        ],
    ),
    (
        "sleep",
        "Sleep",
        "",
        "body",
        [
            ("rested", "scale", "How rested do you feel when you wake up?", "", "", "Not at all", "Fully rested"),
            ("sleep-times", "short_text", "When do you usually go to bed, and when do you wake up?", "", "", "", ""),
        ],
    ),
    (
        "stress-support",
        "Stress and support",
        "",
        "body",
        [
            ("stress", "scale", "How much stress are you carrying at the moment?", "", "", "Very little", "A great deal"),
            ("support", "long_text", "Who is in your corner?", "Family, friends, a community: the people who help you.", "", "", ""),
        ],
    ),
    (
        "tests",
        "Previous test results",
        "If you have results from before, they can save you repeat tests.",
        "body",
        [
            ("have-results", "yes_no", "Do you have results from recent blood tests, scans or other tests?", "If yes, which ones and roughly when? You can bring copies to your visit.", "", "", ""),
            ("anything-else", "long_text", "Is there anything else you would like us to know?", "", "", "", ""),
        ],
    ),
]  # fmt: skip

AGREEMENTS = [
    (
        "financial-policy",
        "Financial policy",
        "Our programs are paid privately. Fees are agreed with you before your program begins, and you will "
        "always know what a visit, test or supplement costs before you commit to it. If a visit needs to move, "
        "please let us know at least 24 hours ahead so we can offer the time to someone else; we understand "
        "that life sometimes gets in the way, and we will always talk it through with you.",
    ),
    (
        "consent-to-care",
        "Consent to care",
        "I agree to receive functional-medicine care from this clinic. My practitioner will explain each "
        "recommendation, its benefits and its risks, and I am free to ask questions, to decline any part of my "
        "plan and to stop at any time. This care works alongside, not instead of, my other doctors, and it is "
        "not an emergency service: in an emergency I will call my local emergency number.",
    ),
    (
        "communication-consent",
        "Communication",
        "I agree that the clinic may contact me by email or text message about my visits, my plan and my "
        "check-ins, on the channels I have chosen. Messages are kept short and never share more than needed. "
        "I can change how I hear from the clinic, or stop messages, at any time.",
    ),
]


def install(*, Questionnaire, Section, Question, Agreement, now) -> None:
    """Create the shipped questionnaire and agreements if they are missing; never touch an admin's edits."""
    if not Questionnaire.objects.filter(slug=SLUG).exists():
        questionnaire = Questionnaire.objects.create(
            slug=SLUG, version=1, title=TITLE, intro=INTRO, status="active", published_at=now
        )
        for position, (link_id, title, intro, note_field, questions) in enumerate(SECTIONS):
            section = Section.objects.create(
                questionnaire=questionnaire,
                link_id=link_id,
                title=title,
                intro=intro,
                note_field=note_field,
                position=position,
            )
            Question.objects.bulk_create(
                Question(
                    section=section,
                    link_id=q_id,
                    kind=kind,
                    text=text,
                    help_text=help_text,
                    options=options,
                    scale_low=low,
                    scale_high=high,
                    position=n,
                )
                for n, (q_id, kind, text, help_text, options, low, high) in enumerate(questions)
            )
    for position, (key, title, body) in enumerate(AGREEMENTS):
        Agreement.objects.get_or_create(
            key=key, defaults={"title": title, "body": body, "position": position}
        )
