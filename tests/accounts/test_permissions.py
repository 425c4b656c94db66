import pytest
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from django.views import View

from accounts.models import Role
from accounts.permissions import RoleRequiredMixin, role_required

# Pages anyone may open. Every other URL must send an anonymous visitor to sign in.
PUBLIC = {
    "healthz",
    "accounts:login",
    "accounts:logout",
    "unsubscribe",
    "consent_confirm",
    "twilio_inbound_sms",
    "email_inbound",  # the email provider's inbound webhook, proven by its signature (POST only)
    "compliance:checkin_answer",
    "journeys:questionnaire",  # the patient's intake questionnaire, proven by its signed link
    "journeys:questionnaire_section",
    "journeys:questionnaire_sign",
    "journeys:inquire",
    "journeys:inquire_thanks",
    # allauth's pages for someone not signed in yet: the second-factor step of a sign-in, password reset,
    # and the pages it keeps for sign-up and e-mail confirmation, which answer "closed" here.
    "allauth_login_forward",
    "account_login",
    "account_logout",
    "account_inactive",
    "account_signup",
    # allauth's own email-address pages, not offered here: 404 to everyone (accounts/urls_allauth.py)
    "account_email",
    "account_email_verification_sent",
    "account_confirm_email",
    "account_confirm_login_code",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key_done",
    "mfa_authenticate",
}
SAMPLE_KWARGS = {
    "int": "1",
    "str": "x",
    "slug": "x",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "path": "x",
}


def walk(resolver, prefix="", namespace=None):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            yield from walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield prefix + str(entry.pattern), name


def concrete(route: str) -> str:
    import re

    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_KWARGS[m.group(1) or "str"], route)
    return "/" + route.lstrip("^").rstrip("$").replace("\\Z", "")


API_PUBLIC = {
    "api:openapi-json",
    "api:openapi-view",
    "api:api-root",
}  # schema, docs, a bare 404: no patient data


def app_routes(*, api: bool = False):
    """The site's pages (``api=False``) or the REST API's endpoints (``api=True``), which answer to a key."""
    for route, name in walk(get_resolver()):
        if route.startswith("admin/") or name in PUBLIC or "(?P" in route:
            continue
        if route.startswith("api/") != api or name in API_PUBLIC:
            continue
        yield pytest.param(concrete(route), id=name or route)


@pytest.mark.django_db
@pytest.mark.parametrize("url", list(app_routes()))
def test_every_non_public_page_sends_an_anonymous_visitor_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302, url
    assert response["Location"].startswith("/accounts/sign-in/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("url", list(app_routes(api=True)))
def test_every_api_endpoint_refuses_a_call_without_a_key(client, url):
    """The API never sends a caller to a sign-in page: without a key it answers 401 (or 405 to a GET of a
    POST-only endpoint), and never a page of data."""
    response = client.get(url)
    assert response.status_code in (401, 405), url


def test_the_route_walk_found_the_pages():
    urls = {p.values[0] for p in app_routes()}
    assert {"/", "/pipeline/", "/insights/", "/patients/"} <= urls


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
    with pytest.raises(PermissionDenied, match="Your role does not give access"):
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
    with pytest.raises(PermissionDenied, match="Your role does not give access"):
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
