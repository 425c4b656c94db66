"""DESIGN.md's explicit wiring holds: each app lists its URLs, a page calls the panels it shows, a service calls
what it causes. No app module finds modules by name (``importlib``, ``pkgutil``), hides a failed import
(``except ImportError``), fills a registry from functions run at import time, or wires anything in
``AppConfig.ready()`` beyond Django's own extension points.

Django's and Celery's own discovery (admin.py, tasks.py, management commands, templates) are the frameworks',
not ours, and a broken module there stops start-up with its traceback.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from tests.test_layers import FLOORS, ROOT

DISCOVERY_MODULES = {"importlib", "pkgutil"}
# django.utils.module_loading's discovery helpers; ``import_string(settings.X)`` is configuration, kept.
DISCOVERY_NAMES = {"import_module", "autodiscover_modules", "module_has_submodule", "__import__"}
HIDDEN_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}
# What a ready() may connect: Django's own signals about the database's schema.
DJANGO_SIGNALS = {"post_migrate", "pre_migrate"}
MUTATORS = {"append", "extend", "add", "update", "setdefault", "insert"}

APP_MODULES = [path for package in FLOORS for path in sorted((ROOT / package).rglob("*.py"))]


def _names(node: ast.expr | None) -> set[str]:
    """The exception names an ``except`` clause catches."""
    if node is None:
        return set()
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(element) for element in node.elts))
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return {node.id} if isinstance(node, ast.Name) else set()


def _discovery(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in DISCOVERY_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in DISCOVERY_MODULES:
                found.append(f"from {node.module} import …")
            found += [f"from {node.module} import {a.name}" for a in node.names if a.name in DISCOVERY_NAMES]
        elif isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name in DISCOVERY_NAMES:
                found.append(f"{name}(…) on line {node.lineno}")
            elif name == "import_string" and not (
                node.args
                and isinstance(node.args[0], ast.Attribute)
                and isinstance(node.args[0].value, ast.Name)
                and node.args[0].value.id == "settings"
            ):
                found.append(f"import_string of something other than a setting on line {node.lineno}")
    return found


def _hidden_import_errors(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and _names(node.type) & HIDDEN_IMPORT_ERRORS:
            found.append(f"except {ast.unparse(node.type)} on line {node.lineno}")
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith("suppress")
            and set().union(*(_names(arg) for arg in node.args)) & HIDDEN_IMPORT_ERRORS
        ):
            found.append(f"{ast.unparse(node)} on line {node.lineno}")
    return found


def _module_containers(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        value = getattr(node, "value", None)
        empty_call = isinstance(value, ast.Call) and ast.unparse(value.func) in {
            "dict", "list", "set", "defaultdict", "OrderedDict", "collections.defaultdict",
        }  # fmt: skip
        if isinstance(value, (ast.Dict, ast.List, ast.Set)) or empty_call:
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """The nodes of a function's body, leaving out the functions defined inside it."""
    todo = list(function.body)
    while todo:
        node = todo.pop(0)
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo.extend(ast.iter_child_nodes(node))


def _registries(tree: ast.Module) -> list[str]:
    """Module-level containers that a function writes into: how a registry is filled at import time."""
    containers = _module_containers(tree)
    found = []
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for function in sorted(functions, key=lambda f: f.lineno):
        for node in _own_nodes(function):
            written = None
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in MUTATORS
            ):
                written = node.func.value
            elif isinstance(node, (ast.Assign, ast.AugAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Subscript):
                        written = target.value
            if isinstance(written, ast.Name) and written.id in containers:
                found.append(f"{function.name}() writes into {written.id} on line {node.lineno}")
    return found


def _ready_wiring(tree: ast.Module) -> list[str]:
    """What an AppConfig.ready() does beyond Django's extension points: importing its ``checks`` module
    (whose decorators register system checks) and connecting a Django schema signal to a function here."""
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    found = []
    for cls in ast.walk(tree):
        if not isinstance(cls, ast.ClassDef) or not any(
            ast.unparse(b).endswith("AppConfig") for b in cls.bases
        ):
            continue
        for ready in (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "ready"):
            for node in ready.body:
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                    continue  # a docstring
                if isinstance(node, ast.Import) and all(a.name.startswith("django.") for a in node.names):
                    continue
                if isinstance(node, ast.ImportFrom):
                    if node.level == 0 and (node.module or "").startswith("django."):
                        continue
                    if node.level == 1 and node.module is None and [a.name for a in node.names] == ["checks"]:
                        continue
                call = node.value if isinstance(node, ast.Expr) else None
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "connect"
                    and ast.unparse(call.func.value) in DJANGO_SIGNALS
                    and call.args
                    and isinstance(call.args[0], ast.Name)
                    and call.args[0].id in defined
                ):
                    continue
                found.append(f"{cls.name}.ready(): {ast.unparse(node).splitlines()[0]}")
    return found


def _urls_outside_urls_modules(tree: ast.Module, name: str) -> list[str]:
    """``urlpatterns`` belong to an app's ``urls.py`` (or ``urls_*.py``), where the paths are listed."""
    if name == "urls.py" or name.startswith("urls_"):
        return []
    return [
        f"urlpatterns on line {node.lineno}"
        for node in tree.body
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
        and "urlpatterns" in ast.unparse(node.targets[0] if isinstance(node, ast.Assign) else node.target)
    ]


def wiring_problems(source: str, name: str = "module.py") -> list[str]:
    tree = ast.parse(source)
    return (
        _discovery(tree)
        + _hidden_import_errors(tree)
        + _registries(tree)
        + _ready_wiring(tree)
        + _urls_outside_urls_modules(tree, name)
    )


@pytest.mark.parametrize("path", APP_MODULES, ids=[str(p.relative_to(ROOT)) for p in APP_MODULES])
def test_no_app_module_hides_its_wiring(path):
    problems = wiring_problems(path.read_text(), path.name)
    assert not problems, f"{path.relative_to(ROOT)}: {problems}"


def test_every_app_is_checked():
    assert {path.relative_to(ROOT).parts[0] for path in APP_MODULES} == set(FLOORS)


# --- The checker catches what it is for ----------------------------------------------------------------


def test_it_catches_urls_found_by_pkgutil_and_importlib():
    source = """
import importlib
import pkgutil
from . import views
urlpatterns = []
for info in pkgutil.iter_modules(views.__path__):
    urlpatterns += importlib.import_module(f"views.{info.name}").urlpatterns
"""
    assert wiring_problems(source, "urls.py") == [
        "import importlib",
        "import pkgutil",
        "import_module(…) on line 7",
    ]


def test_it_catches_a_views_module_that_owns_urls():
    source = """
from django.urls import path
urlpatterns = [path("inquire/", inquire, name="inquire")]
"""
    assert wiring_problems(source, "inquiry.py") == ["urlpatterns on line 3"]
    assert wiring_problems(source, "urls.py") == []


def test_it_catches_an_import_error_that_only_logs():
    source = """
try:
    from .services import checkins
except (ImportError, AttributeError) as error:
    logger.warning("not loaded: %s", error)
with contextlib.suppress(ModuleNotFoundError):
    from . import panels
"""
    assert wiring_problems(source) == [
        "except (ImportError, AttributeError) on line 4",
        "contextlib.suppress(ModuleNotFoundError) on line 6",
    ]


def test_it_catches_a_registry_filled_by_decorators_and_register_functions():
    source = """
_on_enter: dict[str, list] = {}
_panels = {}

def on_enter(stage):
    def register(fn):
        _on_enter.setdefault(stage, []).append(fn)
        return fn
    return register

def register_panel(panel):
    _panels[panel.key] = panel
"""
    assert wiring_problems(source) == [
        "register() writes into _on_enter on line 7",
        "register_panel() writes into _panels on line 12",
    ]


def test_it_catches_a_ready_that_registers_panels_or_imports_for_side_effects():
    source = """
class JourneysConfig(AppConfig):
    def ready(self):
        from patients.panels import register_panel
        from . import checks
        from .services import checkins  # noqa: F401 — registers its hooks
        register_panel(Panel(key="journey"))
"""
    assert wiring_problems(source) == [
        "JourneysConfig.ready(): from patients.panels import register_panel",
        "JourneysConfig.ready(): from .services import checkins",
        "JourneysConfig.ready(): register_panel(Panel(key='journey'))",
    ]


def test_it_lets_a_ready_use_djangos_own_extension_points():
    source = """
class NudgesConfig(AppConfig):
    def ready(self):
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401

        post_migrate.connect(_ensure_defaults, sender=self, dispatch_uid="nudges.ensure_defaults")


def _ensure_defaults(**kwargs):
    pass
"""
    assert wiring_problems(source) == []
