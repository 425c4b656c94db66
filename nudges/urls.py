from django.urls import path

from . import views

app_name = "nudges"

urlpatterns = [
    path("", views.outbox, name="outbox"),
    path("export.csv", views.outbox_csv, name="outbox_csv"),
    path("review/", views.review, name="review"),
    path("<int:pk>/", views.nudge_detail, name="detail"),
    path("<int:pk>/retry/", views.retry, name="retry"),
    path("<int:pk>/reviewed/", views.mark_reviewed, name="mark_reviewed"),
    path("patient/<int:patient_pk>/send/", views.send_one_off, name="send_one_off"),
    path("patient/<int:patient_pk>/reply/", views.conversation_reply, name="conversation_reply"),
]
