"""A workflows module that raises while being imported: one line with the file and line of the
error, exit 2; DURABLE_DEBUG=1 shows the whole traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from durable.cli.main import cli
from tests.cli.cli_support import durable_script, service_env

pytestmark = pytest.mark.timeout(60)

MODULES = {
    "name_error_flows": ("import durable\n\nworkflows = [missing_name]\n", 3),
    "syntax_error_flows": ("workflows = [\n\ndef broken(:\n    pass\n", 3),
    "import_error_flows": ("import durable\nimport no_such_dependency_here\n", 2),
    "library_error_flows": ("import json\n\nCONFIG = json.loads('{')\n", 3),
}


def write_module(folder: Path, name: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(MODULES[name][0])
    return path


def service(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = durable_script()
    assert script is not None
    return subprocess.run(
        [script, *args], capture_output=True, text=True, timeout=30, cwd=cwd,
        env=service_env(**env),
    )  # fmt: skip


@pytest.mark.parametrize("command", ["worker", "api", "dev"])
def test_a_name_error_is_one_line_with_file_and_line(command: str, tmp_path: Path) -> None:
    path = write_module(tmp_path, "name_error_flows")
    out = service([command, "--workflows", "name_error_flows:workflows"], tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr == (
        "Error: cannot import 'name_error_flows:workflows': NameError: name 'missing_name' "
        f"is not defined (at {path}:3)\n"
    )


def test_durable_debug_prints_the_traceback(tmp_path: Path) -> None:
    path = write_module(tmp_path, "name_error_flows")
    out = service(
        ["worker", "--workflows", "name_error_flows:workflows"], tmp_path, DURABLE_DEBUG="1"
    )
    assert out.returncode == 2
    assert out.stderr.startswith("Traceback (most recent call last):")
    assert f'File "{path}", line 3, in <module>' in out.stderr
    assert "NameError: name 'missing_name' is not defined" in out.stderr
    assert out.stderr.splitlines()[-1].startswith("Error: cannot import 'name_error_flows:")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("syntax_error_flows", "cannot import 'syntax_error_flows:workflows': SyntaxError: "),
        (
            "import_error_flows",
            "cannot import workflows module 'import_error_flows': "
            "No module named 'no_such_dependency_here'",
        ),
        (
            "library_error_flows",
            "cannot import 'library_error_flows:workflows': JSONDecodeError: Expecting",
        ),
    ],
)
def test_other_errors_name_the_users_line(
    name: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_module(tmp_path, name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(cli, ["worker", "--workflows", f"{name}:workflows"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {message}"), line
    assert line.endswith(f"(at {path}:{MODULES[name][1]})"), line
