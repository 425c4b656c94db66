from django.urls import include, path

from tests.accounts.test_permissions import clinical_view

urlpatterns = [
    path("clinical/", clinical_view),
    path("", include("alliance_crm.urls")),
]
