"""Import patients from a spreadsheet saved as CSV.

Every row is checked first, with the same rules and words as the patient form (``patients.validation``,
the time zone list, ``Patient.full_clean``), and each problem is reported with the row's line number. Rows
are then created through ``services.patient_create``, so consent and the lead are recorded and audited
exactly as when a patient is added by hand.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.refusals import validation_message

from .models import CHECKIN_HOUR_WORDS, Channel, CheckinHour, Patient
from .selectors import lead_candidates
from .services import patient_create
from .validation import (
    LEAD_MUST_PRACTISE,
    format_phone,
    normalize_phone,
    validate_consent_address,
    validate_preferred_channel,
    validate_quiet_hours,
)

CONSENT_VIA = "spreadsheet import"
MAX_BYTES = 5 * 1024 * 1024
FILE = 0  # the line number of a problem with the whole file rather than one row
HEADER = 1

# (column, required, what it holds) — shown on the admin import page; keep the command's docstring in step.
COLUMNS: tuple[tuple[str, bool, str], ...] = (
    ("first_name", True, "Legal first name."),
    ("last_name", True, "Legal last name."),
    ("preferred_name", False, "What the patient likes to be called."),
    ("pronouns", False, "For example she/her."),
    ("date_of_birth", False, "YYYY-MM-DD, for example 1984-03-27."),
    ("email", False, "Email address. Needed when preferred_channel is email or consent_email is yes."),
    (
        "phone",
        False,
        "Mobile number in any style; without a +country code the clinic's country is assumed. "
        "Needed when preferred_channel is sms or consent_sms is yes.",
    ),
    ("time_zone", False, "IANA name such as America/Chicago or Europe/London; blank means the clinic's."),
    ("preferred_channel", False, "email or sms; blank means email."),
    ("quiet_hours_start", False, "HH:MM, 24-hour clock; blank means 20:00."),
    ("quiet_hours_end", False, "HH:MM, 24-hour clock; blank means 08:00."),
    (
        "checkin_hour",
        False,
        "When check-in requests go, in their own time: morning (08:00), midday (12:00), evening (18:00) "
        "or an hour such as 7 or 19:00; blank means 10:00.",
    ),
    (
        "consent_email",
        False,
        "Whether the patient agreed to email: yes/no, true/false or 1/0; blank means no.",
    ),
    (
        "consent_sms",
        False,
        "Whether the patient agreed to text messages: yes/no, true/false or 1/0; blank means no.",
    ),
    ("source", False, "referral, website, event, social or other; blank means other."),
    ("lead", False, "Username or email of the active practitioner who leads their care."),
    ("referred_by_email", False, "Email of the patient (already in Alliance CRM) who referred them."),
)
COLUMN_NAMES = tuple(name for name, _, _ in COLUMNS)
REQUIRED = tuple(name for name, required, _ in COLUMNS if required)
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", ""}
DEFAULT_QUIET_HOURS = (time(20, 0), time(8, 0))
# Where a model field's errors are reported: the column the value came from.
FIELD_COLUMNS = {"referred_by": "referred_by_email"}


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False
    skip_invalid: bool = False
    ready: int = 0  # rows that passed every check (and, in a dry run, a rehearsal of the save)
    file_rejected: bool = False  # the file or its header is wrong, so no row was checked

    @property
    def invalid_rows(self) -> int:
        return len({line for line, _ in self.errors if line > HEADER})

    @property
    def failed(self) -> bool:
        """Nothing was (or, in a dry run, would be) imported because of the problems found."""
        if not self.errors:
            return False
        if self.dry_run:
            return not self.skip_invalid or self.ready == 0
        return self.created == 0

    def error_lines(self) -> list[str]:
        return [f"{'file' if line == FILE else f'line {line}'}: {reason}" for line, reason in self.errors]

    @property
    def summary(self) -> str:
        bad = _count(self.invalid_rows, "row")
        if self.file_rejected:
            return "Nothing was imported: the file itself has a problem."
        if self.dry_run:
            if not self.errors:
                every = "the row" if self.total == 1 else f"all {self.total} rows"
                return f"Dry run: {every} can be imported. Nothing was saved."
            if self.skip_invalid and self.ready:
                return (
                    f"Dry run: {self.ready} of {_count(self.total, 'row')} can be imported and {bad} with "
                    "problems would be skipped. Nothing was saved."
                )
            return f"Dry run: {self._bad_of_total}, so nothing would be imported. Nothing was saved."
        if self.created and not self.errors:
            return f"Imported {_count(self.created, 'patient')}."
        if self.created:
            return f"Imported {self.created} of {_count(self.total, 'row')}; skipped {bad} with problems."
        return f"Nothing was imported: {self._bad_of_total}. Fix them and import again, or skip the invalid rows."

    @property
    def _bad_of_total(self) -> str:
        verb = "has" if self.invalid_rows == 1 else "have"
        return f"{self.invalid_rows} of {_count(self.total, 'row')} {verb} problems"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass
class _Row:
    line: int
    values: dict[str, str]
    data: dict = field(default_factory=dict)
    lead: object = None
    consent_email: bool = False
    consent_sms: bool = False
    problems: list[str] = field(default_factory=list)
    # Columns that have a problem already: one reason each is enough.
    refused: set[str] = field(default_factory=set)

    def problem(self, column: str, reason: str) -> None:
        if column and column in self.refused:
            return
        self.refused.add(column)
        self.problems.append(reason)


class _FileProblem(Exception):
    def __init__(self, line: int, *reasons: str):
        super().__init__(*reasons)
        self.line, self.reasons = line, reasons


class _Rollback(Exception):
    pass


@transaction.atomic
def patients_import(
    *, file_or_text: str | bytes | Path | IO, actor, dry_run: bool = False, skip_invalid: bool = False
) -> ImportReport:
    """Create one patient per CSV row: all rows or none, or with ``skip_invalid`` exactly the valid ones.
    A ``dry_run`` checks everything, rehearses the save, and leaves the database as it was."""
    report = ImportReport(dry_run=dry_run, skip_invalid=skip_invalid)
    try:
        rows = _read_rows(_read_text(file_or_text))
    except _FileProblem as problem:
        report.errors.extend((problem.line, reason) for reason in problem.reasons)
        report.file_rejected = True
        return report
    report.total = len(rows)
    if not rows:
        report.errors.append((HEADER, "the file has a header but no patients below it."))
        report.file_rejected = True
        return report
    _check_rows(rows)
    for row in rows:
        report.errors.extend((row.line, reason) for reason in row.problems)
    valid = [row for row in rows if not row.problems]
    report.ready = len(valid)
    if not valid or (report.errors and not skip_invalid):
        return report

    created = 0
    try:
        with transaction.atomic():
            for row in valid:
                try:
                    patient_create(
                        actor=actor,
                        data=row.data,
                        lead=row.lead,
                        consent_email=row.consent_email,
                        consent_sms=row.consent_sms,
                        consent_via=CONSENT_VIA,
                    )
                except ValidationError as exc:
                    report.errors.extend((row.line, reason) for reason in _reasons(exc))
                except IntegrityError:
                    report.errors.append(
                        (row.line, "could not be saved: it conflicts with data already saved.")
                    )
                else:
                    created += 1
            if dry_run or (report.errors and not skip_invalid):
                raise _Rollback
    except _Rollback:
        pass
    else:
        report.created = created
    report.ready = created
    report.errors.sort(key=lambda error: error[0])
    return report


def _read_text(source) -> str:
    """The file's text: UTF-8, with or without the byte-order mark spreadsheets add."""
    if isinstance(source, str):
        return source.removeprefix("\ufeff")
    if isinstance(source, Path):
        data = source.read_bytes()
    elif isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        data = source.read(MAX_BYTES + 1)
        if isinstance(data, str):
            return data.removeprefix("\ufeff")
    if len(data) > MAX_BYTES:
        raise _FileProblem(
            FILE, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it into parts."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _FileProblem(
            FILE,
            f"the file is not UTF-8 text (line {line} is the first to show it). "
            "In your spreadsheet use “Save as…” and choose “CSV UTF-8”.",
        ) from None


def _delimiter(first_line: str) -> str:
    """Commas, or the semicolons or tabs some spreadsheets write instead."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _read_rows(text: str) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0]))
    records: list[tuple[int, list[str]]] = []
    try:
        previous = 0
        for cells in reader:
            records.append((previous + 1, cells))
            previous = reader.line_num
    except csv.Error as exc:
        raise _FileProblem(reader.line_num, f"the file is not a readable CSV file ({exc}).") from None
    if not records or not any(cell.strip() for cell in records[0][1]):
        raise _FileProblem(
            HEADER, "the first line must be the header naming the columns, like first_name,last_name."
        )
    header = [_column_name(cell) for cell in records[0][1]]
    _check_header(header)

    rows = []
    for line, cells in records[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        row = _Row(line=line, values={})
        if len(cells) > len(header):
            row.problem(
                "",
                f"the line has {len(cells)} cells but the header has {len(header)} columns: is there a comma "
                "in a value that is not in quotes?",
            )
        cells = [*cells, *[""] * (len(header) - len(cells))]
        for name, cell in zip(header, cells, strict=False):
            if name:
                row.values[name] = cell.strip()
            elif cell.strip():
                row.problem("", f"“{cell.strip()}” is in a column with no name in the header.")
        rows.append(row)
    return rows


def _column_name(cell: str) -> str:
    return "_".join(cell.strip().lower().replace("-", " ").split())


def _check_header(header: list[str]) -> None:
    named = [name for name in header if name]
    repeated = sorted({name for name in named if named.count(name) > 1})
    unknown = [name for name in named if name not in COLUMN_NAMES]
    missing = [name for name in REQUIRED if name not in named]
    problems = []
    if unknown:
        problems.append(
            f"unknown {'column' if len(unknown) == 1 else 'columns'} {_quoted(unknown)}; "
            f"the columns we read are {', '.join(COLUMN_NAMES)}."
        )
    if missing:
        problems.append(
            f"the required column {_quoted(missing)} is missing."
            if len(missing) == 1
            else f"the required columns {_quoted(missing)} are missing."
        )
    if repeated:
        problems.append(
            f"each column may appear once, but {_quoted(repeated)} {'is' if len(repeated) == 1 else 'are'} repeated."
        )
    if problems:
        raise _FileProblem(HEADER, *problems)


def _quoted(names) -> str:
    return ", ".join(f"“{name}”" for name in names)


def _check_rows(rows: list[_Row]) -> None:
    """Parse every value, then check the rows against the database and against each other."""
    for row in rows:
        _parse(row)
    _resolve_leads(rows)
    _resolve_referrers(rows)
    _refuse_duplicates(rows)
    for row in rows:
        _full_clean(row)


def _parse(row: _Row) -> None:
    get = row.values.get
    data = row.data
    for name in ("first_name", "last_name"):
        data[name] = get(name, "")
        if not data[name]:
            row.problem(name, f"{name} is empty: every patient needs a legal first and last name.")
    for name in ("preferred_name", "pronouns"):
        data[name] = get(name, "")

    if dob := get("date_of_birth", ""):
        try:
            data["date_of_birth"] = datetime.strptime(dob, "%Y-%m-%d").date()
        except ValueError:
            row.problem(
                "date_of_birth", f"date_of_birth “{dob}” is not a date written YYYY-MM-DD, like 1984-03-27."
            )

    data["email"] = get("email", "").lower()
    try:
        data["phone"] = normalize_phone(get("phone", ""), settings.PHONE_DEFAULT_REGION)
    except ValidationError as exc:
        row.problem("phone", f"phone {exc.messages[0]}")
    data["time_zone"] = get("time_zone", "") or settings.TIME_ZONE

    channel = get("preferred_channel", "").lower() or Channel.EMAIL
    if channel in Channel.values:
        data["preferred_channel"] = channel
    else:
        row.problem(
            "preferred_channel", f"preferred_channel “{get('preferred_channel')}” must be email or sms."
        )

    for name, default in zip(("quiet_hours_start", "quiet_hours_end"), DEFAULT_QUIET_HOURS, strict=True):
        value = get(name, "")
        try:
            data[name] = datetime.strptime(value, "%H:%M").time() if value else default
        except ValueError:
            row.problem(name, f"{name} “{value}” is not a time written HH:MM on a 24-hour clock, like 20:00.")
    _check(
        row,
        "quiet_hours_end",
        validate_quiet_hours,
        data.get("quiet_hours_start"),
        data.get("quiet_hours_end"),
    )
    hour = _checkin_hour(get("checkin_hour", ""))
    if hour is None:
        row.problem(
            "checkin_hour",
            f"checkin_hour “{get('checkin_hour')}” must be morning, midday, evening or an hour from 0 to 23 "
            "(like 7 or 19:00).",
        )
    else:
        data["checkin_hour"] = hour

    source = get("source", "").lower()
    by_label = {label.lower(): value for value, label in Patient.Source.choices}
    source = by_label.get(source, source) or Patient.Source.OTHER
    if source in Patient.Source.values:
        data["source"] = source
    else:
        row.problem("source", f"source “{get('source')}” must be one of {', '.join(Patient.Source.values)}.")

    for name in ("consent_email", "consent_sms"):
        value = get(name, "").lower()
        if value in YES | NO:
            setattr(row, name, value in YES)
        else:
            row.problem(name, f"{name} “{get(name)}” must be yes or no (blank means no).")

    # A phone number already refused is not reported a second time as missing.
    phone_known = "phone" not in row.refused
    if row.consent_email:
        _check(row, "consent_email", validate_consent_address, channel=Channel.EMAIL, address=data["email"])
    if row.consent_sms and phone_known:
        _check(row, "consent_sms", validate_consent_address, channel=Channel.SMS, address=data["phone"])
    channel = data.get("preferred_channel")
    if channel and (channel == Channel.EMAIL or phone_known):
        _check(
            row,
            "preferred_channel",
            validate_preferred_channel,
            channel=channel,
            email=data["email"],
            phone=data.get("phone", ""),
        )


def _checkin_hour(value: str) -> int | None:
    """The hour a ``checkin_hour`` cell names (blank: the default), or None if it names none."""
    value = value.strip().lower()
    if not value:
        return CheckinHour.MID_MORNING
    if value in CHECKIN_HOUR_WORDS:
        return CHECKIN_HOUR_WORDS[value]
    hours, _, minutes = value.partition(":")
    if hours.isdigit() and 0 <= int(hours) <= 23 and minutes in ("", "00"):
        return int(hours)
    return None


def _check(row: _Row, column: str, validate, *args, **kwargs) -> None:
    """Apply one of the patient rules (``patients.validation``) and report its refusal under ``column``."""
    try:
        validate(*args, **kwargs)
    except ValidationError as exc:
        row.problem(column, f"{column}: {validation_message(exc)}")


def _resolve_leads(rows: list[_Row]) -> None:
    wanted = [row for row in rows if row.values.get("lead")]
    if not wanted:
        return
    by_username, by_folded_username, by_email = {}, defaultdict(list), defaultdict(list)
    for user in lead_candidates():
        by_username[user.username] = user
        by_folded_username[user.username.lower()].append(user)
        if user.email:
            by_email[user.email.lower()].append(user)
    for row in wanted:
        given = row.values["lead"]
        key = given.lower()
        if given in by_username:
            row.lead = by_username[given]
        elif len(by_folded_username.get(key, [])) == 1:
            row.lead = by_folded_username[key][0]
        elif len(by_email.get(key, [])) == 1:
            row.lead = by_email[key][0]
        elif key in by_email:
            row.problem(
                "lead", f"lead “{given}” is the email of more than one practitioner: give their username."
            )
        else:
            row.problem("lead", f"lead “{given}”: {LEAD_MUST_PRACTISE}")


def _resolve_referrers(rows: list[_Row]) -> None:
    wanted = {row.values["referred_by_email"].lower() for row in rows if row.values.get("referred_by_email")}
    if not wanted:
        return
    found = defaultdict(list)
    for patient in Patient.objects.annotate(email_key=Lower("email")).filter(email_key__in=wanted):
        found[patient.email_key].append(patient)
    for row in rows:
        given = row.values.get("referred_by_email", "")
        matches = found.get(given.lower(), [])
        if not given:
            continue
        if len(matches) == 1:
            row.data["referred_by"] = matches[0]
        elif matches:
            row.problem(
                "referred_by_email",
                f"referred_by_email “{given}” is used by more than one patient: leave it blank.",
            )
        else:
            row.problem(
                "referred_by_email",
                f"referred_by_email “{given}” is not the email of a patient already in Alliance CRM.",
            )


def _refuse_duplicates(rows: list[_Row]) -> None:
    """A row is refused when its email or phone belongs to a patient, or to an earlier row of the file."""
    emails = {row.data["email"] for row in rows if row.data.get("email")}
    phones = {row.data["phone"] for row in rows if row.data.get("phone")}
    existing_email, existing_phone = {}, {}
    if emails or phones:
        matches = Patient.objects.annotate(email_key=Lower("email")).filter(
            Q(email_key__in=emails) | Q(phone__in=phones)
        )
        for patient in matches.order_by("archived", "id"):
            existing_email.setdefault(patient.email_key, patient)
            existing_phone.setdefault(patient.phone, patient)
    seen_email, seen_phone = {}, {}
    for row in rows:
        email, phone = row.data.get("email"), row.data.get("phone")
        for kind, value, existing, seen in (
            ("email address", email, existing_email, seen_email),
            ("phone number", phone, existing_phone, seen_phone),
        ):
            if not value:
                continue
            shown = format_phone(value) if kind == "phone number" else value
            if value in existing:
                patient = existing[value]
                archived = " (archived)" if patient.archived else ""
                row.problem(
                    "duplicate",
                    f"already a patient: {patient.legal_name}{archived} has the {kind} “{shown}”.",
                )
            elif value in seen:
                row.problem(
                    "duplicate",
                    f"already a patient: line {seen[value]} of this file has the same {kind} “{shown}”.",
                )
            else:
                seen[value] = row.line


def _full_clean(row: _Row) -> None:
    """The model's own rules (lengths, email form, time zone…) for every value not already refused."""
    patient = Patient(**{name: value for name, value in row.data.items() if name not in row.refused})
    exclude = ["search_text", *row.refused]
    try:
        # Constraints are checked again when the row is saved; the one a row can break (quiet hours) is checked above.
        patient.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as exc:
        for reason in _reasons(exc, values=row.values):
            row.problem("", reason)


def _reasons(exc: ValidationError, values: dict[str, str] | None = None) -> list[str]:
    """A ValidationError from the model or a service as sentences that name the column."""
    if not hasattr(exc, "error_dict"):
        return list(exc.messages)
    reasons = []
    for name, messages in exc.message_dict.items():
        column = FIELD_COLUMNS.get(name, name)
        value = (values or {}).get(column, "")
        for message in messages:
            if name == NON_FIELD_ERRORS:
                reasons.append(message)
            elif message.startswith("“"):
                reasons.append(f"{column} {message}")
            elif value:
                reasons.append(f"{column} “{value}”: {message}")
            else:
                reasons.append(f"{column}: {message}")
    return reasons
