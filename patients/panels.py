"""The patient's own sections of the patient page: contact and consent, and the care team.

The dashboard composes the page and calls these, like every other app's panels: ``context(request,
patient)`` returns the section's template context in a fixed number of queries.
"""

from django.conf import settings
from django.middleware.csrf import get_token
from django.utils.safestring import SafeString

from accounts.form_once import crispy_form_class_once

from . import selectors
from .forms import (
    CareTeamMemberForm,
    ChangeLeadForm,
    MarketingConsentForm,
    TestimonialForm,
    practitioner_options,
)
from .rows import care_team_panel_html, contact_panel_html

_KEPT_AS = "_contact_tab_csrf"  # the request attribute the masked token is kept in


def _csrf_token(request) -> str:
    """The request's CSRF token for the tab's forms, masked once for both sections as ``{% csrf_token %}``
    masks it once a render (``get_token`` masks it anew each call: some 500 Python calls)."""
    token = getattr(request, _KEPT_AS, None)
    if token is None:
        token = get_token(request)
        setattr(request, _KEPT_AS, token)
    return token


def contact_panel_context(request, patient) -> dict:
    """One query per channel for the consent in force, one for its latest history, one for the requests
    that wait for the patient's own confirmation; the section written by ``rows.contact_panel_html``."""
    consent = selectors.patient_consent(patient)
    history, requests = selectors.recent_consent(patient)
    return {
        "html": contact_panel_html(
            patient, consent=consent, requests=requests, history=history, csrf_token=_csrf_token(request)
        ),
    }


def care_team_forms_html() -> tuple[SafeString, SafeString]:
    """The change-lead and add-member forms as ``{% crispy %}`` writes them untouched, by one query for both
    forms' practitioners (``selectors.care_team_candidates``), each rendered once per list of names."""
    leads, team = selectors.care_team_candidates()
    lead_field = ChangeLeadForm.base_fields["lead"]
    member_field = CareTeamMemberForm.base_fields["user"]
    return (
        crispy_form_class_once(ChangeLeadForm, {"lead": practitioner_options(lead_field, leads)}),
        crispy_form_class_once(CareTeamMemberForm, {"user": practitioner_options(member_field, team)}),
    )


def care_team_panel_context(request, patient) -> dict:
    """One query for the team, current and former; one for the practitioners the two forms list; the section
    written by ``rows.care_team_panel_html``."""
    current_team, former_team = selectors.care_team(patient)
    lead_form_html, member_form_html = care_team_forms_html()
    return {
        "html": care_team_panel_html(
            patient,
            current=current_team,
            former=former_team,
            lead_form_html=lead_form_html,
            member_form_html=member_form_html,
            csrf_token=_csrf_token(request),
        ),
    }


def advocacy_panel_context(request, patient) -> dict:
    """Marketing consent, testimonials with their consent, the referral link and who came through it:
    three queries (``selectors.patient_advocacy``)."""
    advocacy = selectors.patient_advocacy(patient)
    return {
        "marketing_consent": advocacy.marketing_consent,
        "testimonials": advocacy.testimonials,
        "referral_token": advocacy.referral_token,
        "referrals": advocacy.referrals,
        "site_url": settings.ALLIANCE_SITE_URL,
        "consent_form": MarketingConsentForm(),
        "testimonial_form": TestimonialForm(),
    }
