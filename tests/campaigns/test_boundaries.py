"""The core and the campaigns app reach integrations only through ``campaigns/destinations.py``."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Outside-service plumbing that is not a destination: the HTTP layer, fetching a workspace's URL,
# encryption, OpenAI images.
ALLOWED = {
    "integrations.http", "integrations.fetch", "integrations.crypto", "integrations.openai", "integrations.openai.client"
}  # fmt: skip
# The root URLconf mounts every app's URLs, integrations included.
EXEMPT = {"marketing/urls.py"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("app", ["campaigns", "marketing"])
def test_it_imports_no_integration_outside_the_registry(app):
    offenders = {}
    for path in sorted((ROOT / app).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in EXEMPT or "/migrations/" in relative:
            continue
        bad = {
            name
            for name in imports(path)
            if name.startswith("integrations") and name != "integrations"
            and not any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED)
        }
        if bad:
            offenders[relative] = sorted(bad)
    assert offenders == {}
