"""Documentation is part of the contract: public names, CLI commands and the README's commands."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import vecdb
from vecdb.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_has_a_docstring():
    for name in vecdb.__all__:
        obj = getattr(vecdb, name)
        assert inspect.getdoc(obj), f"vecdb.{name} has no docstring"


def test_public_methods_are_documented():
    for cls in (vecdb.Database, vecdb.Collection):
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_"):
                assert inspect.getdoc(member), f"{cls.__name__}.{name} has no docstring"


def test_every_cli_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        assert f"vecdb {name}" in readme, f"`vecdb {name}` is not documented in README.md"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    test_cmd = blocks[1].strip()
    assert test_cmd in ci.splitlines(), f"CI must run the README's test command {test_cmd!r}"


def test_architecture_doc_is_linked_and_names_every_module():
    assert "vecdb/ARCHITECTURE.md" in (ROOT / "README.md").read_text()
    arch = (ROOT / "vecdb" / "ARCHITECTURE.md").read_text()
    for path in sorted((ROOT / "vecdb").rglob("*.py")):
        skipped = path.name == "__init__.py" or path.parent.name == "cli"
        if skipped or "_proto" in path.parts or "integrations" in path.parts:
            continue
        assert path.name in arch, f"{path.relative_to(ROOT)} is not mentioned in vecdb/ARCHITECTURE.md"
