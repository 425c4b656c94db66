from django.urls import include, path


def boom(request):
    return 1 / 0


urlpatterns = [path("boom/", boom), path("", include("alliance_crm.urls"))]
