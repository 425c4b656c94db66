from django.urls import path

from . import views, views_alerts

app_name = "compliance"

urlpatterns = [
    # Public: the patient's weekly check-in, reached from the link in a check-in request nudge.
    path("c/<str:token>/", views.checkin_answer, name="checkin_answer"),
    # Staff: the answer a patient gave by phone, entered by the clinic.
    path("checkins/<int:pk>/enter/", views.checkin_enter, name="checkin_enter"),
    *views_alerts.urlpatterns,
]
