"""The user docs stay true: the README's example is the gallery's, its commands name real
workflows and entry points, and docs/client.md documents every Client method's signature."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from durable.client import Client
from examples import gallery

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CLIENT_DOC = (ROOT / "docs" / "client.md").read_text()


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def bare(function: ast.AsyncFunctionDef) -> str:
    """The function without annotations and docstring, as source text."""
    function.returns = None
    for arg in function.args.args:
        arg.annotation = None
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        function.body = body[1:]
    return ast.unparse(function)


def function_named(source: str, name: str) -> ast.AsyncFunctionDef:
    found = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.AsyncFunctionDef) and node.name == name
    ]
    assert len(found) == 1, f"no single async def {name} in the source"
    return found[0]


def test_the_readme_example_is_the_gallery_approval_workflow() -> None:
    example = code_blocks(README, "python")[0]
    readme_fn = function_named(example, "approval")
    gallery_fn = function_named(Path(gallery.__file__).read_text(), "approval")
    assert bare(readme_fn) == bare(gallery_fn)


def test_the_readme_names_only_workflows_of_the_gallery() -> None:
    names = {wf.name for wf in gallery.workflows.values()}
    commands = "\n".join(code_blocks(README, "sh"))
    named = set(re.findall(r" -w (\S+)", commands))
    named |= set(re.findall(r"/api/workflows/([^/\s]+)/", commands))
    assert named, "the quickstart names no workflow"
    assert named <= names


@pytest.mark.parametrize(
    ("form", "target"),
    [
        ("arq durable.worker.WorkerSettings", "durable.worker:WorkerSettings"),
        ("uvicorn --factory durable.api.app:app", "durable.api.app:app"),
        ("durable.api.create_app(", "durable.api:create_app"),
    ],
)
def test_the_readme_run_forms_name_real_objects(form: str, target: str) -> None:
    assert form in README
    module, _, attr = target.partition(":")
    assert getattr(importlib.import_module(module), attr) is not None


def documented_signatures(text: str) -> dict[str, list[str]]:
    """`client.NAME(params) -> ...` in the doc: NAME -> its parameter names, in order."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(r"client\.(\w+)\(([^()]*)\)\s*->", text):
        params = [p.strip() for p in match.group(2).split(",")]
        names = [re.split(r"[:=]", p)[0].strip() for p in params if p.strip() not in ("", "*")]
        found.setdefault(match.group(1), names)
    return found


def test_docs_client_documents_every_public_client_method_with_its_parameters() -> None:
    documented = documented_signatures(CLIENT_DOC)
    public = {
        name: [p for p in inspect.signature(fn).parameters if p != "self"]
        for name, fn in inspect.getmembers(Client, inspect.isfunction)
        if not name.startswith("_")
    }
    assert sorted(documented) == sorted(public)
    for name, params in public.items():
        assert documented[name] == params, name
