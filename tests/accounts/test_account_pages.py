"""Which of allauth's own account pages a clinic account may use: its password and its second factor, yes;
its email addresses, no — an admin sets them, because password resets go there."""

import pytest
from allauth.account.models import EmailAddress

from tests.support.signin import enrol

EMAIL_PAGES = ("/accounts/email/", "/accounts/confirm-email/", "/accounts/confirm-email/MQ:1abc:xyz/")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["staff", "practitioner", "admin_user"])
@pytest.mark.parametrize("url", EMAIL_PAGES)
def test_the_email_address_pages_are_not_offered_to_any_role(request, client_for, role, url):
    user = request.getfixturevalue(role)
    client = client_for(user)
    assert client.get(url).status_code == 404
    response = client.post(url, {"action_add": "", "email": "attacker@example.com"})
    assert response.status_code == 404
    assert not EmailAddress.objects.filter(email="attacker@example.com").exists()
    user.refresh_from_db()
    assert user.email != "attacker@example.com"


@pytest.mark.django_db
@pytest.mark.parametrize("url", EMAIL_PAGES)
def test_the_email_address_pages_are_not_offered_to_anonymous_visitors_either(client, url):
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_the_pages_a_signed_in_person_keeps_still_open(client_for, staff):
    enrol(staff)
    client = client_for(staff)
    for url in ("/accounts/password/change/", "/accounts/2fa/", "/accounts/2fa/recovery-codes/"):
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_the_accounts_folder_itself_leads_nowhere_unsafe(client_for, staff):
    """allauth's middleware sends a signed-in visitor of /accounts/ to its email page: refused there too."""
    response = client_for(staff).get("/accounts/", follow=True)
    assert response.status_code == 404
