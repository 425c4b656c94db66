from django.urls import path

from . import insights, schedule_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.today, name="today"),
    path("schedule/", schedule_views.schedule, name="schedule"),
    path("pipeline/", views.pipeline, name="pipeline"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/unread/", views.inbox_unread, name="inbox_unread"),
    path("advocates/", views.advocates, name="advocates"),
    path("insights/", insights.insights, name="insights"),
    path("insights/<slug:table>.csv", insights.insights_csv, name="insights_csv"),
    path("patients/<int:pk>/", views.patient_detail, name="patient"),
    path("patients/<int:pk>/panels/<slug:key>/", views.patient_panel, name="patient_panel"),
]
