"""The demo clinic: about forty patients and the living clinic around them, for `make run` and for trying
Alliance out (``manage.py seed_demo``, ``manage.py setup_demo``).

Floor 6, so it may call every floor's services, and does so for everything it makes: the history a demo
needs is made by living it on a clock (``time_machine``, held still at each moment in turn), never by
writing rows "now" and dating them back.

    data/*.toml   what the demo says: patients and journeys, stories, notes, plans, answers, the clinic
    data.py       reads and checks the data files
    clock.py      the clock, and the clinic's periodic work while it runs (missed check-ins, the outbox)
    people.py     colleagues; patients with their consent and care teams
    journeys.py   each journey as a story of moments: stages, visits and notes, plans, check-ins
    answers.py    what patients answer at their check-ins
    clinic.py     puts it together: plan, live the past, stand in the present
    summary.py    what was made, for the command's report
"""

from .clinic import build_demo_clinic
from .data import DemoDataError, DemoError, demo_data

__all__ = ["DemoDataError", "DemoError", "build_demo_clinic", "demo_data"]
