import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.views import View

from accounts.models import Role
from accounts.permissions import RoleRequiredMixin, role_required

# Which page answers whom is listed for every URL in tests/accounts/url_table.py and walked by
# tests/accounts/test_url_table.py; these test the role check itself.


@role_required(Role.PRACTITIONER, Role.ADMIN)
def clinical_view(request):
    return HttpResponse("notes")


class ClinicalView(RoleRequiredMixin, View):
    allowed_roles = (Role.PRACTITIONER, Role.ADMIN)

    def get(self, request):
        return HttpResponse("notes")


def request_as(user):
    request = RequestFactory().get("/clinical/")
    request.user = user
    return request


@pytest.mark.parametrize("view", [clinical_view, ClinicalView.as_view()], ids=["decorator", "mixin"])
def test_the_role_check_refuses_the_wrong_role_with_403(view, staff):
    with pytest.raises(PermissionDenied):
        view(request_as(staff))


@pytest.mark.parametrize("view", [clinical_view, ClinicalView.as_view()], ids=["decorator", "mixin"])
def test_the_role_check_lets_the_right_roles_in(view, practitioner, admin_user):
    assert view(request_as(practitioner)).status_code == 200
    assert view(request_as(admin_user)).status_code == 200


@pytest.mark.parametrize("view", [clinical_view, ClinicalView.as_view()], ids=["decorator", "mixin"])
def test_the_role_check_sends_anonymous_to_sign_in(view):
    from django.contrib.auth.models import AnonymousUser

    response = view(request_as(AnonymousUser()))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/sign-in/?next=/clinical/"


def test_a_switched_off_account_is_refused(practitioner):
    practitioner.is_active = False
    with pytest.raises(PermissionDenied):
        clinical_view(request_as(practitioner))


def test_the_403_page_shows_no_internals(client_for, staff, settings):
    settings.ROOT_URLCONF = "tests.accounts.urls_forbidden"
    response = client_for(staff).get("/clinical/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "not open to your role" in body
    assert "Traceback" not in body and "PermissionDenied" not in body


def test_only_admins_reach_django_admin(client_for, staff, practitioner, admin_user):
    assert client_for(staff).get("/admin/").status_code == 302
    assert client_for(practitioner).get("/admin/").status_code == 302
    assert client_for(admin_user).get("/admin/").status_code == 200
