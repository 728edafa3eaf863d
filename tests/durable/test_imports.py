"""What importing a module drags in: the vocabulary and the authoring API stay light."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def loaded_after(statement: str) -> set[str]:
    code = f"""
        import sys
        {statement}
        print(" ".join(sorted(sys.modules)))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_import_durable_types_imports_no_redis() -> None:
    modules = loaded_after("import durable.types")
    assert "redis" not in modules and "durable.client" not in modules


def test_the_authoring_api_imports_no_redis() -> None:
    modules = loaded_after("from durable import Step, Retries, workflow, ReceivedEvent")
    assert "redis" not in modules


def test_durable_client_is_there_on_first_use() -> None:
    modules = loaded_after("import durable; assert durable.Client.__name__ == 'Client'")
    assert "durable.client" in modules and "redis" in modules


@pytest.mark.parametrize(
    "first", ["durable.step", "durable.workflow", "durable.engine", "durable.runner"]
)
def test_each_module_imports_on_its_own(first: str) -> None:
    """No import cycle between the replay engine, the step object and workflow definitions."""
    assert first in loaded_after(f"import {first}")
