from django.urls import path

from . import views

app_name = "compliance"

urlpatterns = [
    # Public: the patient's weekly check-in, reached from the link in a check-in request nudge.
    path("c/<str:token>/", views.checkin_answer, name="checkin_answer"),
    # Staff: the answer a patient gave by phone, entered by the clinic.
    path("checkins/<int:pk>/enter/", views.checkin_enter, name="checkin_enter"),
    # Falter alerts: the list, one alert, and a practitioner's answer to it.
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("alerts/<int:pk>/correct/", views.alert_correct, name="alert_correct"),
    path("alerts/<int:pk>/revise/", views.alert_revise, name="alert_revise"),
]
