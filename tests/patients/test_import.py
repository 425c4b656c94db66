import io
from datetime import date, time

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AccessEvent
from patients.importing import patients_import
from patients.models import CareTeamMember, ConsentEvent, Patient
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = "first_name,last_name,email,phone,consent_email,consent_sms"
GOOD = [
    "Ada,Okafor,ada@example.com,(312) 555-0147,yes,no",
    "Ben,Carter,ben@example.com,,no,",
    "Cleo,Diaz,cleo@example.com,312.555.0148,1,true",
]


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def counts() -> tuple[int, int, int]:
    return Patient.objects.count(), ConsentEvent.objects.count(), CareTeamMember.objects.count()


def run(tmp_path, text: str, *args: str, username: str = "alice", encoding: str = "utf-8"):
    path = tmp_path / "patients.csv"
    path.write_text(text, encoding=encoding)
    out, err = io.StringIO(), io.StringIO()
    call_command("import_patients", str(path), "--as", username, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_clean_file_creates_every_patient_with_normalised_contact_details(admin_user):
    report = patients_import(file_or_text=csv_text(*GOOD), actor=admin_user)

    assert (report.total, report.created, report.errors) == (3, 3, [])
    ada = Patient.objects.get(email="ada@example.com")
    assert ada.phone == "+13125550147"
    assert ada.time_zone == "America/New_York"
    assert ada.preferred_channel == "email"
    assert (ada.quiet_hours_start, ada.quiet_hours_end) == (time(20, 0), time(8, 0))
    assert ada.source == "other"
    assert ada.created_by == admin_user
    assert AccessEvent.objects.filter(action="create", patient_id=ada.pk, actor=admin_user).exists()


def test_one_bad_row_imports_nothing_and_names_its_line(admin_user):
    text = csv_text(GOOD[0], GOOD[1], "Dee,Evans,dee@example.com,12,no,no", GOOD[2])
    before = counts()

    report = patients_import(file_or_text=text, actor=admin_user)

    assert counts() == before
    assert report.created == 0
    assert [line for line, _ in report.errors] == [4]
    assert report.error_lines()[0].startswith("line 4: phone “12”")
    assert "Nothing was imported" in report.summary


def test_every_bad_row_is_reported_with_its_own_line_and_reason(admin_user):
    text = csv_text(
        "Dee,Evans,dee@example.com,,maybe,no",
        "Eve,Fox,not-an-email,,no,no",
        ",Gray,gray@example.com,,no,no",
    )

    report = patients_import(file_or_text=text, actor=admin_user)

    assert report.error_lines() == [
        "line 2: consent_email “maybe” must be yes or no (blank means no).",
        "line 3: email “not-an-email”: Enter a valid email address.",
        "line 4: first_name is empty: every patient needs a legal first and last name.",
    ]


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(admin_user):
    text = csv_text(GOOD[0], "", '"Fay\nMarie",Hill,fay@example.com,,no,no', "Gus,Ives,gus@,,no,no")

    report = patients_import(file_or_text=text, actor=admin_user, dry_run=True)

    assert report.total == 3
    assert [line for line, _ in report.errors] == [6]


def test_a_dry_run_reports_but_changes_nothing(admin_user, practitioner):
    text = csv_text(*GOOD)
    before, audit_before = counts(), AccessEvent.objects.count()

    report = patients_import(file_or_text=text, actor=admin_user, dry_run=True)

    assert counts() == before
    assert AccessEvent.objects.count() == audit_before
    assert (report.dry_run, report.created, report.ready, report.errors) == (True, 0, 3, [])
    assert report.summary == "Dry run: all 3 rows can be imported. Nothing was saved."


def test_a_dry_run_still_reports_the_bad_rows(admin_user):
    before = counts()

    report = patients_import(
        file_or_text=csv_text(GOOD[0], "Dee,Evans,,,no,no"), actor=admin_user, dry_run=True
    )

    assert counts() == before
    assert [line for line, _ in report.errors] == [3]
    assert report.failed


def test_skip_invalid_imports_exactly_the_valid_rows(admin_user):
    text = csv_text(GOOD[0], "Dee,Evans,dee@example.com,12,no,no", GOOD[1], "Eve,Fox,eve@,,no,no", GOOD[2])

    report = patients_import(file_or_text=text, actor=admin_user, skip_invalid=True)

    assert report.created == 3
    assert {line for line, _ in report.errors} == {3, 5}
    assert set(Patient.objects.values_list("email", flat=True)) == {
        "ada@example.com",
        "ben@example.com",
        "cleo@example.com",
    }
    assert report.summary == "Imported 3 of 5 rows; skipped 2 rows with problems."


def test_consent_columns_become_consent_history_given_via_the_import(admin_user):
    patients_import(file_or_text=csv_text(*GOOD), actor=admin_user)

    events = {
        (e.patient.first_name, e.channel, e.address) for e in ConsentEvent.objects.select_related("patient")
    }
    assert events == {
        ("Ada", "email", "ada@example.com"),
        ("Cleo", "email", "cleo@example.com"),
        ("Cleo", "sms", "+13125550148"),
    }
    assert set(ConsentEvent.objects.values_list("granted", "via", "recorded_by")) == {
        (True, "spreadsheet import", admin_user.pk)
    }


def test_consent_without_an_address_is_refused(admin_user):
    text = csv_text("Dee,Evans,dee@example.com,,no,yes")

    report = patients_import(file_or_text=text, actor=admin_user)

    assert report.error_lines() == [
        "line 2: consent_sms: Add a mobile number before recording consent to text messages."
    ]


def test_the_lead_column_makes_that_practitioner_the_lead(admin_user, practitioner, other_practitioner):
    header = "first_name,last_name,email,lead"
    text = csv_text(
        "Ada,Okafor,ada@example.com,bob",
        f"Ben,Carter,ben@example.com,{other_practitioner.email.upper()}",
        header=header,
    )

    patients_import(file_or_text=text, actor=admin_user)

    leads = dict(
        CareTeamMember.objects.filter(role="lead", ended_at__isnull=True).values_list(
            "patient__first_name", "user"
        )
    )
    assert leads == {"Ada": practitioner.pk, "Ben": other_practitioner.pk}


def test_a_lead_who_is_not_an_active_practitioner_is_refused(admin_user, staff):
    UserFactory(username="gone", role="practitioner", is_active=False)
    header = "first_name,last_name,email,lead"
    text = csv_text("Ada,Okafor,ada@example.com,charlie", "Ben,Carter,ben@example.com,gone", header=header)

    report = patients_import(file_or_text=text, actor=admin_user)

    assert [line for line, _ in report.errors] == [2, 3]
    assert [reason for _, reason in report.errors] == [
        "lead “charlie”: The lead must be an active practitioner.",
        "lead “gone”: The lead must be an active practitioner.",
    ]
    assert not Patient.objects.exists()


def test_a_row_whose_email_or_phone_belongs_to_a_patient_is_refused(admin_user):
    PatientFactory(first_name="Ada", last_name="Okafor", email="ada@example.com", phone="+13125550199")
    text = csv_text("Ada,O,ADA@example.com,,no,no", "Zed,Z,zed@example.com,+1 312 555 0199,no,no")

    report = patients_import(file_or_text=text, actor=admin_user, skip_invalid=True)

    assert report.error_lines() == [
        "line 2: already a patient: Ada Okafor has the email address “ada@example.com”.",
        "line 3: already a patient: Ada Okafor has the phone number “(312) 555-0199”.",
    ]
    assert Patient.objects.count() == 1


def test_a_row_repeating_an_earlier_row_of_the_file_is_refused(admin_user):
    text = csv_text(GOOD[0], GOOD[1], "Ada,Again,other@example.com,312-555-0147,no,no")

    report = patients_import(file_or_text=text, actor=admin_user, skip_invalid=True)

    assert report.error_lines() == [
        "line 4: already a patient: line 2 of this file has the same phone number “(312) 555-0147”."
    ]
    assert Patient.objects.count() == 2


def test_an_unknown_column_is_refused_by_name(admin_user):
    report = patients_import(
        file_or_text=csv_text("Ada,Okafor,x", header="first_name,last_name,dob"), actor=admin_user
    )

    assert report.file_rejected
    assert report.errors[0][0] == 1
    assert report.errors[0][1].startswith("unknown column “dob”")
    assert not Patient.objects.exists()


def test_a_missing_required_column_is_refused(admin_user):
    report = patients_import(
        file_or_text=csv_text("Ada,ada@example.com", header="first_name,email"), actor=admin_user
    )

    assert report.error_lines() == ["line 1: the required column “last_name” is missing."]


def test_a_repeated_column_is_refused(admin_user):
    report = patients_import(
        file_or_text=csv_text("A,B,C", header="first_name,last_name,Last Name"), actor=admin_user
    )

    assert report.error_lines() == ["line 1: each column may appear once, but “last_name” is repeated."]


def test_empty_columns_a_spreadsheet_adds_at_the_end_are_ignored(admin_user):
    text = csv_text(
        "Ada,Okafor,ada@example.com,,", "Ben,Carter,ben@example.com,,x", header="first_name,last_name,email,,"
    )

    report = patients_import(file_or_text=text, actor=admin_user, skip_invalid=True)

    assert report.error_lines() == ["line 3: “x” is in a column with no name in the header."]
    assert report.created == 1


def test_a_row_with_more_cells_than_the_header_is_refused(admin_user):
    text = csv_text("Ada,Okafor,ada@example.com,Jr, MD", header="first_name,last_name,email,preferred_name")

    report = patients_import(file_or_text=text, actor=admin_user)

    assert report.error_lines()[0].startswith("line 2: the line has 5 cells but the header has 4 columns")


def test_semicolon_separated_files_are_read(admin_user):
    report = patients_import(
        file_or_text="first_name;last_name;email\nAda;Okafor;ada@example.com\n", actor=admin_user
    )

    assert report.created == 1


def test_a_header_without_rows_is_refused(admin_user):
    report = patients_import(file_or_text=HEADER + "\n", actor=admin_user)

    assert report.failed
    assert report.error_lines() == ["line 1: the file has a header but no patients below it."]


def test_accented_names_survive_a_utf8_file_with_a_byte_order_mark(admin_user):
    text = csv_text("José,Núñez-Ørsted,jose@example.com,,no,no", "Zoë,Łukasiewicz,zoe@example.com,,no,no")
    data = text.encode("utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf")

    report = patients_import(file_or_text=data, actor=admin_user)

    assert report.errors == []
    assert set(Patient.objects.values_list("first_name", "last_name")) == {
        ("José", "Núñez-Ørsted"),
        ("Zoë", "Łukasiewicz"),
    }
    assert Patient.objects.matching("nunez").get().first_name == "José"


def test_a_file_that_is_not_utf8_is_refused_with_advice(admin_user):
    data = csv_text("José,Núñez,jose@example.com,,no,no").encode("latin-1")

    report = patients_import(file_or_text=data, actor=admin_user)

    assert report.file_rejected
    assert "CSV UTF-8" in report.error_lines()[0]


def test_optional_columns_are_read(admin_user, practitioner):
    referrer = PatientFactory(email="friend@example.com", first_name="Ada")  # never a random "Margaret"
    header = (
        "First Name,Last Name,preferred_name,pronouns,date_of_birth,email,phone,time_zone,preferred_channel,"
        "quiet_hours_start,quiet_hours_end,source,referred_by_email"
    )
    row = "Margaret,Oyelaran,Maggie,she/her,1961-07-04,,+44 20 7946 0958,Europe/London,SMS,21:30,07:15,referral,Friend@Example.com"

    report = patients_import(file_or_text=csv_text(row, header=header), actor=admin_user)

    assert report.errors == []
    maggie = Patient.objects.get(first_name="Margaret")
    assert maggie.display_name == "Maggie Oyelaran"
    assert maggie.pronouns == "she/her"
    assert maggie.date_of_birth == date(1961, 7, 4)
    assert maggie.preferred_channel == "sms"
    assert maggie.phone == "+442079460958"
    assert maggie.time_zone == "Europe/London"
    assert (maggie.quiet_hours_start, maggie.quiet_hours_end) == (time(21, 30), time(7, 15))
    assert maggie.source == "referral"
    assert maggie.referred_by == referrer


def test_the_command_imports_the_file_and_prints_a_summary(tmp_path, admin_user):
    out, err = run(tmp_path, csv_text(*GOOD))

    assert "Imported 3 patients." in out
    assert err == ""
    assert Patient.objects.count() == 3


def test_the_command_prints_each_problem_and_fails_when_nothing_was_imported(tmp_path, admin_user):
    path = tmp_path / "patients.csv"
    path.write_text(csv_text(GOOD[0], "Dee,Evans,dee@example.com,12,no,no"), encoding="utf-8")
    err = io.StringIO()

    with pytest.raises(CommandError, match="Nothing was imported: 1 of 2 rows has problems"):
        call_command("import_patients", str(path), "--as", "alice", stderr=err)

    assert err.getvalue().startswith("line 3: phone “12”")
    assert not Patient.objects.exists()


def test_the_command_dry_run_changes_nothing(tmp_path, admin_user):
    before = counts()

    out, _ = run(tmp_path, csv_text(*GOOD), "--dry-run")

    assert counts() == before
    assert "Dry run: all 3 rows can be imported. Nothing was saved." in out


def test_the_command_skip_invalid_imports_the_valid_rows(tmp_path, admin_user):
    out, err = run(
        tmp_path, csv_text(GOOD[0], "Dee,Evans,dee@example.com,12,no,no", GOOD[1]), "--skip-invalid"
    )

    assert "Imported 2 of 3 rows; skipped 1 row with problems." in out
    assert "line 3:" in err
    assert Patient.objects.count() == 2


def test_the_command_needs_an_active_user_to_act_as(tmp_path, admin_user):
    with pytest.raises(CommandError, match="No active user"):
        run(tmp_path, csv_text(*GOOD), username="nobody")


def test_checkin_hour_takes_a_part_of_the_day_or_an_hour_and_refuses_anything_else(admin_user):
    header = "first_name,last_name,email,checkin_hour"
    rows = [
        "Ada,Okafor,ada@example.com,evening",
        "Ben,Carter,ben@example.com,7",
        "Cleo,Diaz,cleo@example.com,",
    ]
    report = patients_import(file_or_text=csv_text(*rows, header=header), actor=admin_user)
    assert report.errors == []
    hours = dict(Patient.objects.values_list("first_name", "checkin_hour"))
    assert hours == {"Ada": 18, "Ben": 7, "Cleo": 10}

    refused = patients_import(
        file_or_text=csv_text("Dee,Evans,dee@example.com,teatime", header=header), actor=admin_user
    )
    assert [line for line, _ in refused.errors] == [2]
    assert "checkin_hour “teatime” must be morning, midday, evening" in refused.errors[0][1]
