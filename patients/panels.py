"""The patient's own sections of the patient page: contact and consent, and the care team.

The dashboard composes the page and calls these, like every other app's panels: ``context(request,
patient)`` returns the section's template context in a fixed number of queries.
"""

from django.conf import settings

from . import selectors
from .forms import CareTeamMemberForm, ChangeLeadForm, MarketingConsentForm, TestimonialForm

CONSENT_HISTORY = 10


def contact_panel_context(request, patient) -> dict:
    """One query per channel for the consent in force, one for its latest history, one for the requests
    that wait for the patient's own confirmation."""
    return {
        "consent": selectors.patient_consent(patient),
        "consent_history": selectors.consent_history(patient)[:CONSENT_HISTORY],
        "consent_requests": list(selectors.consent_requests_waiting(patient)[:CONSENT_HISTORY]),
    }


def care_team_panel_context(request, patient) -> dict:
    """One query for the team, current and former; one more when the lead form lists the practitioners."""
    current_team, former_team = selectors.care_team(patient)
    return {
        "care_team": current_team,
        "former_team": former_team,
        "lead_form": ChangeLeadForm(),
        "member_form": CareTeamMemberForm(),
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
