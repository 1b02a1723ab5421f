"""The layering rules of ARCHITECTURE.md, checked by walking imports."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO_ROOT


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _py_files(package: str) -> list[Path]:
    return sorted((REPO_ROOT / package).rglob("*.py"))


def test_engine_never_imports_the_ui() -> None:
    bad = [
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in _py_files("engine")
        for name in _imports(path)
        if name.split(".")[0] in {"tui", "textual", "rich", "textual_image", "rich_pixels"}
    ]
    assert bad == []


def test_protocol_is_pure() -> None:
    forbidden = {"anyio", "socket", "asyncio", "ssl", "httpx", "httpx_ws", "wsproto",
                 "engine.store", "engine.sync", "engine.net", "time", "os"}
    bad = [
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in _py_files("engine/protocol")
        for name in _imports(path)
        if name in forbidden or name.split(".")[0] in forbidden
    ]
    assert bad == []


def test_tui_uses_only_the_public_engine_api() -> None:
    bad = [
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in _py_files("tui")
        for name in _imports(path)
        if name.startswith("engine.")
    ]
    assert bad == []


def test_every_public_engine_name_resolves_and_is_listed_once() -> None:
    import engine

    assert len(engine.__all__) == len(set(engine.__all__))
    assert set(engine.__all__) == set(engine._EXPORTS)
    for name in engine.__all__:
        assert getattr(engine, name) is not None
