"""Deny by default: what every URL of the site answers to a GET from each kind of visitor.

``tests/accounts/test_url_table.py`` walks the URLconf and fails on a pattern missing here, or on one that
answers otherwise. A new page is one line: its name, the objects its path takes (``Row.args``: path
parameter → an object of the ``Scenario``), then what it answers to an anonymous visitor, clinic staff, a
practitioner and an admin. Django admin (``admin/``) is walked apart, in the same test file.

``LOGIN`` is a redirect to the sign-in page; ``302`` a redirect elsewhere (a POST-only page sends a plain
GET back, a signed-in user is sent away from the sign-in page). ``AUDITED`` marks pages that show patient
data: every 200 there must write at least one row to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOGIN = "login"


@dataclass(frozen=True)
class Row:
    args: dict[str, str] = field(default_factory=dict)
    anonymous: int | str = LOGIN
    staff: int | str = 200
    practitioner: int | str = 200
    admin: int | str = 200
    audited: bool = True

    def expected(self, role: str) -> int | str:
        return getattr(self, role)


def public(args=None, status=200, *, audited=False) -> Row:
    """A page anyone may open, with the same answer whoever asks."""
    return Row(args or {}, status, status, status, status, audited=audited)


def staff_page(args=None, *, audited=True) -> Row:
    """Every clinic role reads it; an anonymous visitor is sent to sign in."""
    return Row(args or {}, LOGIN, 200, 200, 200, audited=audited)


def clinical_page(args=None) -> Row:
    """Practitioners and admins only (minimum necessary): staff get 403."""
    return Row(args or {}, LOGIN, 403, 200, 200)


def post_only(args=None, *, clinical=False) -> Row:
    """A form's target: a signed-in GET is refused with 405 once the role check has passed."""
    return Row(args or {}, LOGIN, 403 if clinical else 405, 405, 405, audited=False)


P = {"pk": "patient"}
J = {"pk": "journey"}
V = {"pk": "visit"}
N = {"pk": "note"}
A = {"pk": "alert"}
ITEM = {"pk": "journey", "item_pk": "item"}

SIGN_IN = Row({}, 200, 302, 302, 302, audited=False)
SIGN_OUT = Row({}, 302, 200, 200, 200, audited=False)


def own_account(status=200) -> Row:
    """allauth's pages about the signed-in person's own account: no patient data, any role."""
    return Row({}, LOGIN, status, status, status, audited=False)


URLS: dict[str, Row] = {
    # no worker or beat has beaten in a fresh test database: stale, alike for all (tests/test_health.py: ok)
    "healthz": public(status=503),
    "accounts:login": SIGN_IN,
    # allauth's sign-out: a GET shows the confirm page, only the POST signs out; no session, nothing to end
    "accounts:logout": SIGN_OUT,
    "accounts:keep_alive": post_only(),
    "patients:list": staff_page(),
    "patients:export": staff_page(),  # the list as CSV: audited as an export
    "patients:create": staff_page(audited=False),
    "patients:edit": staff_page(P),
    "patients:change_lead": post_only(P),
    "patients:consent": post_only(P),
    "patients:archive": post_only(P),
    "patients:care_team_add": post_only(P),
    "patients:care_team_remove": post_only({"pk": "patient", "member_pk": "member"}),
    "patients:marketing_consent": post_only(P),
    "patients:testimonial_add": post_only(P),
    "patients:testimonial_withdraw": post_only({"pk": "patient", "testimonial_pk": "testimonial"}),
    "patients:referral_link": post_only(P),
    "nudges:outbox": staff_page(),
    "nudges:outbox_csv": staff_page(),  # the outbox as CSV: audited as an export
    "nudges:review": staff_page(),
    "nudges:detail": staff_page({"pk": "nudge"}),
    "nudges:retry": post_only({"pk": "nudge"}),
    "nudges:mark_reviewed": post_only({"pk": "nudge"}),
    "nudges:send_one_off": post_only({"patient_pk": "patient"}),
    "nudges:conversation_reply": post_only({"patient_pk": "patient"}),
    "journeys:blueprint": clinical_page(J),
    "journeys:blueprint_version": clinical_page({"pk": "journey", "version": "version"}),
    "journeys:blueprint_start": post_only(J, clinical=True),
    "journeys:blueprint_summary": post_only(J, clinical=True),
    "journeys:blueprint_item_add": post_only(J, clinical=True),
    "journeys:blueprint_item_edit": Row(ITEM, LOGIN, 403, 302, 302),  # a published plan: to the builder
    "journeys:blueprint_item_remove": post_only(ITEM, clinical=True),
    "journeys:blueprint_item_move": post_only(ITEM, clinical=True),
    "journeys:blueprint_item_status": post_only(ITEM, clinical=True),
    "journeys:blueprint_publish": post_only(J, clinical=True),
    "journeys:blueprint_discard": post_only(J, clinical=True),
    "journeys:your_plan": staff_page(J),
    "journeys:inquire": public(),
    "journeys:inquire_thanks": public(),
    "journeys:move": staff_page(J),
    "journeys:timeline": Row({"patient_pk": "patient"}, LOGIN, 302, 302, 302, audited=False),
    "journeys:journey_start": post_only({"patient_pk": "patient"}),
    "journeys:visit_create": staff_page({"patient_pk": "patient"}),
    "journeys:visit_detail": staff_page(V),
    "journeys:visit_reschedule": staff_page(V),
    "journeys:visit_cancel": post_only(V),
    "journeys:visit_complete": post_only(V),
    "journeys:visit_no_show": post_only(V),
    "journeys:visit_calendar": staff_page(V),
    # booking from the schedule's free slots: the empty form and search name no patient
    "journeys:slot_book": staff_page(audited=False),
    "journeys:slot_check": post_only(),
    "journeys:slot_patients": staff_page(audited=False),
    "journeys:note_create": clinical_page(V),
    "journeys:note_detail": clinical_page(N),
    "journeys:note_edit": Row(N, LOGIN, 403, 200, 403),  # a draft note is edited by its author only
    "journeys:note_sign": Row(N, LOGIN, 403, 200, 403),  # the signing step: the note's author only
    "journeys:note_addendum": clinical_page(N),
    "compliance:checkin_answer": public({"token": "checkin_token"}),
    "compliance:checkin_enter": staff_page({"pk": "checkin"}),
    "compliance:alerts": staff_page(),
    "compliance:alert": staff_page(A),
    "compliance:alert_correct": post_only(A, clinical=True),
    "compliance:alert_revise": post_only(A, clinical=True),
    "unsubscribe": public({"token": "unsubscribe_token"}),
    "twilio_inbound_sms": public(status=405),
    "email_inbound": public(status=405),  # the email provider's signed POST only
    "dashboard:today": staff_page(),
    "dashboard:schedule": staff_page(),
    "dashboard:pipeline": staff_page(),
    "dashboard:inbox": staff_page(),  # conversations: the patients on the page, audited as a list
    "dashboard:inbox_unread": staff_page(
        audited=False
    ),  # the navigation's unread count: a number, no patient
    "dashboard:advocates": staff_page(),  # advocates and their testimonials, audited as a list
    "dashboard:insights": staff_page(),
    "dashboard:insights_csv": staff_page({"table": "insights_table"}),  # figures only, audited as an export
    "dashboard:patient": staff_page(P),
    # one tab of the patient page, for htmx to load on demand: audited like the page
    "dashboard:patient_panel": staff_page({"pk": "patient", "key": "patient_tab"}),
    "consent_confirm": public({"token": "consent_token"}),  # the patient's own link: a first name at most
    # django-allauth under /accounts/: its sign-in and sign-out names are ours (accounts/urls_allauth.py)
    "allauth_login_forward": public(status=302),  # to our sign-in page
    "account_login": SIGN_IN,
    "account_logout": SIGN_OUT,
    "account_signup": Row({}, 200, 302, 302, 302, audited=False),  # "sign-up is closed": admins make accounts
    "account_inactive": public(),
    "account_reset_password": public(),  # the same answer for every address (no enumeration)
    "account_reset_password_done": public(),
    "account_reset_password_from_key": public({"uidb36": "uidb36", "key": "reset_key"}),  # "bad link"
    "account_reset_password_from_key_done": public(),
    # email addresses are set by an admin (they receive password resets): not offered to anyone
    "account_email_verification_sent": public(status=404),
    "account_confirm_email": public({"key": "email_key"}, status=404),
    "account_confirm_login_code": public(status=302),  # no sign-in under way: back to the start
    "account_change_password": own_account(),
    "account_set_password": own_account(302),  # they have a password: to change it instead
    "account_email": public(status=404),
    "account_reauthenticate": own_account(),
    "account_request_reauthentication_code": own_account(302),  # no login codes here: to reauthenticate
    "account_confirm_reauthentication_code": own_account(302),
    "mfa_authenticate": public(status=302),  # no sign-in waiting for its second factor
    "mfa_reauthenticate": own_account(302),  # no second factor on file: sent elsewhere
    "mfa_index": own_account(),
    "mfa_activate_totp": own_account(),
    "mfa_deactivate_totp": own_account(404),  # nothing to deactivate: no TOTP on file
    "mfa_generate_recovery_codes": own_account(),
    "mfa_view_recovery_codes": own_account(404),  # none generated yet
    "mfa_download_recovery_codes": own_account(404),
}
