"""The case layer reaches a channel only through ``hotline.channels.base``: imports never circle back.

Every module outside ``hotline/channels`` may import ``hotline.channels.base`` and nothing else of
the channels (the console and the portal are the channels' front ends and may use their public
modules); ``hotline.channels.base`` imports nothing of the project but ``hotline.core``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hotline
from hotline.channels.base import registered

ROOT = Path(hotline.__file__).parent
# The case layer and everything it is built on: they must not know any channel.
CASE_LAYER = ("cases", "audit", "keyring", "outbox", "flows", "accounts", "core")


def _imports(path: Path) -> set[str]:
    """What a module imports at run time (not under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_case_layer_imports_no_channel_but_the_contract() -> None:
    offenders: dict[str, list[str]] = {}
    for package in CASE_LAYER:
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = sorted(n for n in _imports(path) if n.startswith("hotline.channels") and n != "hotline.channels.base")
            if bad:
                offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_the_contract_imports_only_core() -> None:
    names = _imports(ROOT / "channels" / "base.py")
    assert {n for n in names if n.startswith("hotline") and not n.startswith("hotline.core")} == set()


def test_every_channel_app_registers_itself() -> None:
    kinds = {channel.kind for channel in registered()}
    assert {"telegram", "web"} <= kinds
