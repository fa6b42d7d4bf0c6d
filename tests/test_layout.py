"""One layout for the tests: a folder per app, the integrations under tests/integrations/, and
every test named ``test_it_…`` so that its name reads as what the code does."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_it_names_every_test_function_test_it():
    misnamed = []
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            if is_function and node.name.startswith("test_") and not node.name.startswith("test_it_"):
                misnamed.append(f"{path.relative_to(TESTS.parent)}::{node.name}")
    assert not misnamed, f"name these test_it_…: {misnamed}"


def test_it_keeps_the_integrations_tests_under_one_folder():
    integrations = {path.name for path in (TESTS.parent / "integrations").iterdir() if (path / "apps.py").exists()}
    assert {"instagram", "n8n", "cms"} <= integrations
    assert not [name for name in integrations if (TESTS / name).exists()]
    assert all((TESTS / "integrations" / name).is_dir() for name in integrations)
