from django.urls import path

from . import views

app_name = "compliance"

urlpatterns = [
    # Public: the patient's weekly check-in, reached from the link in a check-in request nudge.
    path("c/<str:token>/", views.checkin_answer, name="checkin_answer"),
]
