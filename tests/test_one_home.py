"""One home per rule: a helper or a rule that exists once must not grow a second copy somewhere else.

These read the source (like ``test_layers``) so that a copy fails here before it drifts from the original.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("alliance_crm", "accounts", "patients", "nudges", "journeys", "compliance", "dashboard")


def source_files():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def classes():
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                yield path, node


def returns_false(function: ast.FunctionDef) -> bool:
    body = [node for node in function.body if not isinstance(node, ast.Expr)]  # skip a docstring
    return (
        len(body) == 1
        and isinstance(body[0], ast.Return)
        and isinstance(body[0].value, ast.Constant)
        and body[0].value.value is False
    )


# --- admin ---------------------------------------------------------------------------------------


def test_there_is_one_read_only_admin_mixin_and_it_lives_in_accounts():
    found = [f"{rel(path)}:{node.name}" for path, node in classes() if node.name == "ReadOnlyMixin"]
    assert found == ["accounts/admin.py:ReadOnlyMixin"]


def test_no_admin_class_spells_out_read_only_by_hand():
    permissions = {"has_add_permission", "has_change_permission", "has_delete_permission"}
    by_hand = []
    for path, node in classes():
        if node.name in {"ReadOnlyMixin", "NoAddMixin"}:
            continue
        refusing = {
            item.name
            for item in node.body
            if isinstance(item, ast.FunctionDef) and item.name in permissions and returns_false(item)
        }
        if {"has_add_permission", "has_change_permission"} <= refusing:
            by_hand.append(f"{rel(path)}:{node.name}")
    assert not by_hand, f"use accounts.admin.ReadOnlyMixin instead: {by_hand}"


# --- refusals: a form's errors or a service's ValidationError as words on the page ---------------


def functions_named(name: str) -> list[str]:
    return [
        rel(path)
        for path in source_files()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]


def test_refusals_are_turned_into_words_by_one_module_in_accounts():
    assert functions_named("validation_message") == ["accounts/refusals.py"]
    assert functions_named("add_service_error") == ["accounts/refusals.py"]


def test_no_view_joins_form_errors_or_error_messages_by_hand():
    by_hand = re.compile(r"\.errors\.(values|items)\(\)|join\(.*\.messages\b")
    found = [
        f"{rel(path)}:{number}"
        for path in source_files()
        if rel(path) != "accounts/refusals.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if by_hand.search(line)
    ]
    assert not found, f"use accounts.refusals.validation_message instead: {found}"


def test_alliance_crm_errors_holds_only_the_error_pages():
    tree = ast.parse((ROOT / "alliance_crm" / "errors.py").read_text())
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert names == {"permission_denied", "page_not_found", "server_error"}


# --- htmx ------------------------------------------------------------------------------------------


def test_whether_htmx_asked_is_answered_by_request_htmx_alone():
    """django-htmx's middleware sets ``request.htmx``; no view reads the request header itself."""
    found = [
        f"{rel(path)}:{number}"
        for path in source_files()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"hx[-_]request", line, re.IGNORECASE)
    ]
    assert not found, f"use request.htmx instead: {found}"


def test_the_htmx_middleware_is_installed(settings):
    assert "django_htmx.middleware.HtmxMiddleware" in settings.MIDDLEWARE


# --- the patient rules: one wording each, in patients/validation.py -------------------------------


def test_each_patient_rule_is_worded_once():
    from patients import validation

    wordings = [
        validation.QUIET_HOURS_EMPTY,
        *validation.PREFERRED_CHANNEL_NEEDS_ADDRESS.values(),
        *validation.CONSENT_NEEDS_ADDRESS.values(),
        validation.LEAD_MUST_PRACTISE,
        validation.ONE_LEAD,
        validation.ALREADY_ON_THE_TEAM,
        validation.SPECIALIST_NEEDS_A_NAME,
        validation.COLLEAGUE_NEEDED,
    ]
    texts = {rel(path): path.read_text() for path in source_files()}
    for words in wordings:
        homes = [name for name, text in texts.items() if words in text]
        assert homes == ["patients/validation.py"], f"“{words}” is written in {homes}"


def test_who_practises_is_defined_once():
    """Leads and visit practitioners are "active practitioners": ``patients.validation.PRACTISING_ROLES``."""
    pattern = re.compile(r"[\[(]Role\.PRACTITIONER, Role\.ADMIN[\])]")
    found = [rel(path) for path in source_files() if pattern.search(path.read_text())]
    assert found == ["patients/validation.py"]
