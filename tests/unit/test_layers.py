"""Who may import whom. `stack/` is the composition root: it reads settings, starts the
processes and passes each part what it needs, so nothing else imports it (otherwise a
library module drags the CLI and its settings into every actor, worker and replica, and
cycles come back: gateway → serve → stack → gateway). `privacy/` is the one field policy and
depends on nothing of ours, so every other package can use it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("actors", "gateway", "models", "privacy", "serve", "storage", "streams", "stack")


def _imports(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Every first-party package each file of `package` imports (lazy imports too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(root))] = names & set(PACKAGES)
    return found


def test_only_the_composition_root_imports_stack() -> None:
    offenders = [f"{path} imports stack"
                 for package in PACKAGES if package != "stack"
                 for path, names in _imports(package).items() if "stack" in names]
    assert offenders == []


def test_the_field_policy_depends_on_nothing_of_ours() -> None:
    offenders = [f"{path} imports {sorted(names - {'privacy'})}"
                 for path, names in _imports("privacy").items() if names - {"privacy"}]
    assert offenders == []


def test_the_check_sees_an_import_hidden_in_a_function(tmp_path: Path) -> None:
    (tmp_path / "gateway").mkdir()
    (tmp_path / "gateway" / "late.py").write_text(
        "import os\n\ndef later():\n    from stack.settings import Settings\n    return Settings\n")
    assert _imports("gateway", tmp_path) == {"gateway/late.py": {"stack"}}
