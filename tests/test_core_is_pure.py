"""core/ decides and does no I/O: it must never import Django or the rest of the project."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hotline.core

CORE = Path(hotline.core.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_core_module_imports_django_or_the_apps() -> None:
    offenders = {}
    for path in sorted(CORE.glob("*.py")):
        bad = {
            name
            for name in _imports(path)
            if name.split(".")[0] == "django" or (name.startswith("hotline.") and not name.startswith("hotline.core"))
        }
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_importing_all_of_core_loads_no_django() -> None:
    modules = [f"hotline.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__"]
    code = f"import sys; import {', '.join(modules)}; print(sorted(m for m in sys.modules if m.startswith('django')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
