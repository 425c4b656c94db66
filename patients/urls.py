from django.urls import path

from . import views

# Included under /patients/ by dashboard/urls_patients.py, beside the list (which shows each patient's stage,
# a journeys read, so it is composed on the dashboard's floor).
app_name = "patients"

urlpatterns = [
    path("new/", views.patient_create, name="create"),
    path("<int:pk>/edit/", views.patient_edit, name="edit"),
    path("<int:pk>/lead/", views.patient_change_lead, name="change_lead"),
    path("<int:pk>/consent/", views.patient_consent, name="consent"),
    path("<int:pk>/archive/", views.patient_archive, name="archive"),
    path("<int:pk>/care-team/", views.care_team_add, name="care_team_add"),
    path("<int:pk>/care-team/<int:member_pk>/remove/", views.care_team_remove, name="care_team_remove"),
    path("<int:pk>/marketing-consent/", views.marketing_consent, name="marketing_consent"),
    path("<int:pk>/testimonials/", views.testimonial_add, name="testimonial_add"),
    path(
        "<int:pk>/testimonials/<int:testimonial_pk>/withdraw/",
        views.testimonial_withdraw,
        name="testimonial_withdraw",
    ),
    path("<int:pk>/referral-link/", views.referral_link, name="referral_link"),
]
