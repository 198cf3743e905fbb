"""The shape of the integration: what README's Architecture section promises.

Read from the sources with ``ast``: no Home Assistant needed.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
import re

import pytest

ROOT = Path(__file__).parents[1]
COMPONENT = ROOT / "custom_components/elks"
README = ROOT / "README.md"
# Longest function (def line to last line, docstring included).
MAX_FUNCTION_LINES = 50


def _modules() -> dict[str, ast.Module]:
    return {
        path.stem: ast.parse(path.read_text(), str(path))
        for path in sorted(COMPONENT.glob("*.py"))
    }


def _imports(tree: ast.Module) -> set[str]:
    """Modules of the package that ``tree`` imports, anywhere in it.

    Imports under ``if TYPE_CHECKING:`` and inside functions count too: a
    circle that only type checkers see is still a circle.
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "custom_components.elks."
        ):
            found.add(node.module.split(".")[2])  # type: ignore[union-attr]
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of the integration and the modules of it that it imports."""
    return {name: _imports(tree) for name, tree in _modules().items()}


def test_import_graph_is_seen() -> None:
    """The graph has the edges the checks below rely on (else they check nothing)."""
    graph = import_graph()
    assert "tracker" in graph["webhook"]
    assert "runtime" in graph["sensor"]
    assert "dialer" in graph["runtime"]


def test_no_import_circle() -> None:
    """Modules import each other in one direction only, also for type checking."""
    try:
        order = list(TopologicalSorter(import_graph()).static_order())
    except CycleError as err:
        pytest.fail(f"import circle: {' -> '.join(err.args[1])}")
    assert set(order) >= set(_modules())


def test_cycle_detection_finds_circles() -> None:
    """The check above fails for a circle hidden behind TYPE_CHECKING."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import X\n"
    )
    graph = {"a": {"b"}, "b": _imports(tree)}
    with pytest.raises(CycleError):
        list(TopologicalSorter(graph).static_order())


def _functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    return [
        (name, node)
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    assert node.end_lineno is not None
    return node.end_lineno - node.lineno + 1


def test_functions_are_short() -> None:
    """No function of the integration is over 50 lines."""
    functions = _functions()
    assert len(functions) > 100
    long = [
        f"{module}.{node.name}: {_length(node)} lines"
        for module, node in functions
        if _length(node) > MAX_FUNCTION_LINES
    ]
    assert not long


def test_call_action_only_translates() -> None:
    """``elks.call``'s handler turns data into a request and a result into data."""
    [handler] = [
        node
        for module, node in _functions()
        if module == "services" and node.name == "_async_call"
    ]
    assert _length(handler) < 25


def test_notify_does_not_use_the_service_bus() -> None:
    """Notify entities call the Dialer, not ``elks.call`` through the bus."""
    tree = _modules()["notify"]
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert "async_call" in calls  # the Dialer's
    assert "services" not in {
        node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
    }


def _readme_modules() -> list[str]:
    """Modules named in README's Architecture section, in its order."""
    text = README.read_text()
    section = text.split("### Architecture", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"^\d+\. `(\w+)\.py`", section, re.MULTILINE)


def test_readme_lists_every_module() -> None:
    """README's Architecture section lists exactly the modules there are."""
    listed = _readme_modules()
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert set(listed) == set(_modules())
