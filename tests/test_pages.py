def test_today_pipeline_and_insights_render_for_a_signed_in_user(client_for, staff):
    client = client_for(staff)
    for url, heading in [("/", "Today"), ("/pipeline/", "Pipeline"), ("/insights/", "Insights")]:
        response = client.get(url)
        assert response.status_code == 200
        assert heading in response.content.decode()


def test_navigation_offers_today_patients_pipeline_insights(client_for, staff):
    body = client_for(staff).get("/").content.decode()
    for label in ("Today", "Patients", "Pipeline", "Insights"):
        assert f">{label}</a>" in body
    assert "/admin/" not in body, "staff are not offered Django admin"


def test_static_assets_are_served_from_the_project_not_a_cdn(client_for, staff):
    body = client_for(staff).get("/").content.decode()
    assert "/static/vendor/bootstrap-5.3.9/bootstrap.bundle.min.js" in body
    assert "/static/vendor/htmx-2.0.11/htmx.min.js" in body
    assert "https://" not in body and "//cdn" not in body


def test_the_404_page_shows_no_internals(client_for, staff, settings):
    settings.DEBUG = False
    response = client_for(staff).get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "could not find that page" in body
    assert "urlpatterns" not in body and "Traceback" not in body


def test_the_500_page_shows_no_internals(client_for, staff, settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.urls_broken"
    client = client_for(staff)
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert "ZeroDivisionError" not in body and "Traceback" not in body


def test_today_lists_patients_who_have_no_lead_yet(client_for, staff):
    from tests.factories import PatientFactory

    patient = PatientFactory(first_name="Zoë", last_name="Ångström")
    body = client_for(staff).get("/").content.decode()
    assert "1 patient without a lead practitioner" in body
    assert f'href="/patients/{patient.pk}/"' in body
