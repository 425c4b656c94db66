"""Every journeys page, listed here under the ``journeys`` namespace (the views modules own no URLs)."""

from django.urls import path

from . import intake_views
from .views import blueprints, inquiry, pipeline, schedule, timeline, visits

app_name = "journeys"

urlpatterns = [
    # The care plan builder, its versions and the patient's plan (views/blueprints.py)
    path("journeys/<int:pk>/blueprint/", blueprints.blueprint_builder, name="blueprint"),
    path(
        "journeys/<int:pk>/blueprint/v<int:version>/", blueprints.blueprint_version, name="blueprint_version"
    ),
    path("journeys/<int:pk>/blueprint/start/", blueprints.blueprint_start, name="blueprint_start"),
    path("journeys/<int:pk>/blueprint/summary/", blueprints.blueprint_summary, name="blueprint_summary"),
    path("journeys/<int:pk>/blueprint/items/add/", blueprints.blueprint_item_add, name="blueprint_item_add"),
    path(
        "journeys/<int:pk>/blueprint/items/<int:item_pk>/",
        blueprints.blueprint_item_edit,
        name="blueprint_item_edit",
    ),
    path(
        "journeys/<int:pk>/blueprint/items/<int:item_pk>/remove/",
        blueprints.blueprint_item_remove,
        name="blueprint_item_remove",
    ),
    path(
        "journeys/<int:pk>/blueprint/items/<int:item_pk>/move/",
        blueprints.blueprint_item_move,
        name="blueprint_item_move",
    ),
    path(
        "journeys/<int:pk>/blueprint/items/<int:item_pk>/status/",
        blueprints.blueprint_item_status,
        name="blueprint_item_status",
    ),
    path("journeys/<int:pk>/blueprint/publish/", blueprints.blueprint_publish, name="blueprint_publish"),
    path("journeys/<int:pk>/blueprint/discard/", blueprints.blueprint_discard, name="blueprint_discard"),
    path("journeys/<int:pk>/plan/", blueprints.your_plan, name="your_plan"),
    # Public: the "Get in touch" page (views/inquiry.py)
    path("inquire/", inquiry.inquire, name="inquire"),
    path("inquire/thanks/", inquiry.inquire_thanks, name="inquire_thanks"),
    # A journey's move from the pipeline board (views/pipeline.py)
    path("journeys/<int:pk>/move/", pipeline.move, name="move"),
    # The patient's timeline and a new journey (views/timeline.py)
    path("patients/<int:patient_pk>/timeline/", timeline.timeline, name="timeline"),
    path("patients/<int:patient_pk>/journey/start/", timeline.start, name="journey_start"),
    # Visits and visit notes (views/visits.py)
    path("patients/<int:patient_pk>/visits/new/", visits.visit_create, name="visit_create"),
    path("visits/<int:pk>/", visits.visit_detail, name="visit_detail"),
    path("visits/<int:pk>/reschedule/", visits.visit_reschedule, name="visit_reschedule"),
    path("visits/<int:pk>/cancel/", visits.visit_cancel, name="visit_cancel"),
    path("visits/<int:pk>/complete/", visits.visit_complete, name="visit_complete"),
    path("visits/<int:pk>/no-show/", visits.visit_no_show, name="visit_no_show"),
    path("visits/<int:pk>/calendar.ics", visits.visit_calendar, name="visit_calendar"),
    path("visits/<int:pk>/notes/new/", visits.note_create, name="note_create"),
    path("visit-notes/<int:pk>/", visits.note_detail, name="note_detail"),
    path("visit-notes/<int:pk>/edit/", visits.note_edit, name="note_edit"),
    path("visit-notes/<int:pk>/sign/", visits.note_sign, name="note_sign"),
    path("visit-notes/<int:pk>/addendum/", visits.note_addendum, name="note_addendum"),
    # Booking from a free slot of the schedule (views/schedule.py; the schedule itself is the dashboard's)
    path("schedule/book/", schedule.slot_book, name="slot_book"),
    path("schedule/book/check/", schedule.slot_check, name="slot_check"),
    path("schedule/book/patients/", schedule.slot_patients, name="slot_patients"),
    # The intake questionnaire: the patient's own link (public), and the clinic's pages (intake_views.py)
    path("q/<str:token>/", intake_views.questionnaire, name="questionnaire"),
    path("q/<str:token>/<int:number>/", intake_views.questionnaire_section, name="questionnaire_section"),
    path("q/<str:token>/sign/", intake_views.questionnaire_sign, name="questionnaire_sign"),
    path("patients/<int:patient_pk>/intake/", intake_views.intake_detail, name="intake"),
    path(
        "patients/<int:patient_pk>/intake/to-blueprint/",
        intake_views.intake_to_blueprint,
        name="intake_to_blueprint",
    ),
    path("intake-agreements/<int:pk>.txt", intake_views.intake_signature, name="intake_signature"),
]
