"""DESIGN.md's floors hold: a lower app never imports a higher one."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {
    "alliance_crm": 0,
    "accounts": 1,
    "patients": 2,
    "nudges": 3,
    "journeys": 4,
    "compliance": 5,
    "dashboard": 6,
    "api": 7,
}


def floor_of(module: str) -> int | None:
    for package, floor in FLOORS.items():
        if module == package or module.startswith(package + "."):
            return floor
    return None


def imports_of(path: Path, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = path.relative_to(ROOT).with_suffix("").parts[: -node.level]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


CASES = [
    (path, package)
    for package in FLOORS
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py"))
    if "migrations" not in path.parts
]


def test_every_app_is_checked():
    assert {package for _, package in CASES} == set(FLOORS)


@pytest.mark.parametrize(("path", "package"), CASES, ids=[str(p.relative_to(ROOT)) for p, _ in CASES])
def test_no_app_imports_a_higher_floor(path, package):
    own = FLOORS[package]
    higher = sorted(m for m in imports_of(path, package) if (floor_of(m) or 0) > own)
    assert not higher, f"{path.relative_to(ROOT)} (floor {own}) imports a higher floor: {higher}"
