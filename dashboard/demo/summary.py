"""What the demo made, counted as it was made: the command prints it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Summary:
    users_added: list[str] = field(default_factory=list)
    password_set: bool = False
    patients: int = 0
    archived: int = 0
    leads: Counter = field(default_factory=Counter)
    time_zones: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    consent: Counter = field(default_factory=Counter)
    care_team: Counter = field(default_factory=Counter)
    programs: Counter = field(default_factory=Counter)
    stages: Counter = field(default_factory=Counter)
    inquiries: int = 0
    visits: Counter = field(default_factory=Counter)  # completed, no-show, upcoming
    reminders: int = 0  # pending, for the upcoming visits
    notes: Counter = field(default_factory=Counter)  # signed, drafts, intake, addenda
    blueprints: Counter = field(default_factory=Counter)  # published, revised, drafts, paused items
    checkins: Counter = field(default_factory=Counter)  # answered, missed, open, upcoming
    requests: int = 0  # pending, for the check-ins to come
    answers: Counter = field(default_factory=Counter)  # by link, by phone, changed
    logs: Counter = field(default_factory=Counter)  # plan items answered, by status
    alerts: Counter = field(default_factory=Counter)  # open now, by first reason
    alerts_answered: int = 0
