"""The timeline's first page read by its six queries compiled once per thread: the same rows, by the same SQL,
as the ORM reads them for each patient and moment; later pages as before."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from journeys.selectors import timeline
from journeys.selectors.timeline import FIRST_PAGE_ROWS, PAGE_SIZE, patient_timeline
from tests.factories import PatientFactory
from tests.journeys.test_timeline import NOW, frozen_clock, history, no_intake_questionnaire  # noqa: F401

pytestmark = pytest.mark.django_db

BUILDS = [
    (timeline._stage_query, ()),
    (timeline._visit_query, ()),
    (timeline._note_query, ()),
    (timeline._blueprint_query, (True,)),
    (timeline._blueprint_query, (False,)),
    (timeline._checkin_query, ()),
    (timeline._message_query, ()),
]


def values(rows) -> list[dict]:
    return [{k: v for k, v in vars(row).items() if k != "_state"} for row in rows]


def test_each_read_is_the_orms_for_each_patient_and_moment(practitioner):
    patients = [PatientFactory(), PatientFactory(), PatientFactory()]
    history(patients[0], practitioner, each=30)
    history(patients[1], practitioner, each=3)
    for patient in patients * 2:  # the second round from the SQL compiled in the first
        for now in (NOW, NOW - timedelta(days=300), NOW - timedelta(days=1000)):
            for build, extra in BUILDS:
                with CaptureQueriesContext(connection) as ours:
                    got = timeline._read(
                        build,
                        patient,
                        now=now,
                        rows=FIRST_PAGE_ROWS,
                        **({"clinical": extra[0]} if extra else {}),
                    )
                with CaptureQueriesContext(connection) as orms:
                    expected = list(build(patient.pk, now, FIRST_PAGE_ROWS, *extra))
                assert values(got) == values(expected), build.__name__
                assert [ours.captured_queries[0]["sql"]] == [q["sql"] for q in orms.captured_queries]
    assert (
        len(timeline._read(timeline._visit_query, patients[0], now=NOW, rows=FIRST_PAGE_ROWS))
        == FIRST_PAGE_ROWS
    )


def test_the_first_page_and_an_older_one_are_the_timeline_as_before(practitioner, staff):
    patient = PatientFactory()
    history(patient, practitioner, each=20)
    first = patient_timeline(patient=patient, user=practitioner)
    both = patient_timeline(patient=patient, user=practitioner, limit=2 * PAGE_SIZE)  # not compiled
    older = patient_timeline(patient=patient, user=practitioner, offset=PAGE_SIZE)
    assert first.entries == both.entries[:PAGE_SIZE] and older.entries == both.entries[PAGE_SIZE:]
    assert first.has_more and len(first.entries) == PAGE_SIZE
    staff_first = patient_timeline(patient=patient, user=staff)
    assert [e.detail for e in staff_first.entries if e.kind == "blueprint"] == [""] * sum(
        e.kind == "blueprint" for e in staff_first.entries
    )
    assert any(e.detail for e in first.entries if e.kind == "blueprint")


def test_the_labels_are_what_get_display_says_for_every_value():
    from journeys.models import CheckIn, ExitReason, Stage, Visit
    from nudges.models import Nudge

    for model, name, labels in (
        (Visit, "kind", timeline._VISIT_KINDS),
        (Visit, "status", timeline._VISIT_STATUSES),
        (CheckIn, "status", timeline._CHECKIN_STATUSES),
        (Nudge, "kind", timeline._NUDGE_KINDS),
        (Nudge, "channel", timeline._NUDGE_CHANNELS),
        (Nudge, "status", timeline._NUDGE_STATUSES),
    ):
        values = [value for value, _ in model._meta.get_field(name).flatchoices]
        assert values and all(
            labels[value] == getattr(model(**{name: value}), f"get_{name}_display")() for value in values
        )
    assert {stage.value: stage.label for stage in Stage} == timeline._STAGE_LABELS
    assert {reason.value: reason.label for reason in ExitReason} == timeline._EXIT_LABELS
