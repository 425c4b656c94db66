"""Every variable the settings read is in the README's configuration table (.env.example: test_settings)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def variables_the_settings_read() -> set[str]:
    source = (ROOT / "alliance_crm" / "settings.py").read_text()
    return set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', source))


def test_the_readme_configuration_table_lists_every_variable():
    readme = (ROOT / "README.md").read_text()
    table = readme[
        readme.index("## Configuration") : readme.index("**Production cannot pretend to deliver.**")
    ]
    listed = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table))
    missing = sorted(variables_the_settings_read() - listed)
    assert not missing, f"the README's configuration table does not list: {missing}"
