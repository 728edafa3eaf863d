"""Workflow definitions, the decorator, and registries of workflows."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from durable.errors import ConfigurationError
from durable.limits import Concurrency, Limits, RateLimit
from durable.names import VERSION_MAX, WORKFLOW_NAME_MAX, valid_name
from durable.schedule import Schedule
from durable.step import Step

TICKER_NAME = "durable.schedule"  # durable.ticker.TICKER: the workflow that runs schedules


@dataclass(frozen=True)
class WorkflowEvent:
    """What a workflow function receives: its params, creation time and instance id."""

    payload: Any
    timestamp: datetime
    instance_id: str


WorkflowFn = Callable[[WorkflowEvent, Step], Awaitable[Any]]


@dataclass(frozen=True)
class Workflow:
    """A workflow definition. `version` names the code's version (e.g. "2", "2025-06-01" or a
    commit id): instances record it at creation (`meta.version`) and can be listed by it.
    `concurrency` and `rate_limit` hold its instances back while a limit is reached
    (durable/limits.py, durable/gate.py)."""

    name: str
    fn: WorkflowFn
    params: type[BaseModel] | None = None
    version: str | None = None
    concurrency: Concurrency | None = None
    rate_limit: RateLimit | None = None
    limits: Limits = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", Limits(self.concurrency, self.rate_limit))
        if not valid_name(self.name, WORKFLOW_NAME_MAX):
            raise ConfigurationError(
                f"invalid workflow name {self.name!r}: 1-{WORKFLOW_NAME_MAX} characters of "
                "letters, digits and _ . : - (not starting with . : -)"
            )
        if self.version is not None and not valid_name(self.version, VERSION_MAX):
            raise ConfigurationError(
                f"invalid version {self.version!r} of workflow {self.name!r}: 1-{VERSION_MAX} "
                "characters of letters, digits and _ . : - (not starting with . : -)"
            )


def define_workflow(
    name: str,
    fn: WorkflowFn,
    *,
    params: type[BaseModel] | None = None,
    version: str | None = None,
    concurrency: Concurrency | None = None,
    rate_limit: RateLimit | None = None,
) -> Workflow:
    return Workflow(
        name=name, fn=fn, params=params, version=version, concurrency=concurrency,
        rate_limit=rate_limit,
    )  # fmt: skip


def workflow(
    name: str,
    *,
    params: type[BaseModel] | None = None,
    version: str | None = None,
    concurrency: Concurrency | None = None,
    rate_limit: RateLimit | None = None,
) -> Callable[[WorkflowFn], Workflow]:
    """Decorator: `@workflow("approval", version="2") async def approval(event, step): ...`."""

    def decorate(fn: WorkflowFn) -> Workflow:
        return define_workflow(
            name, fn, params=params, version=version, concurrency=concurrency,
            rate_limit=rate_limit,
        )  # fmt: skip

    return decorate


class Registry(Mapping[str, Workflow]):
    """Workflows by their `name` (not by the dict key a user chose), and the schedules declared
    beside them (`Schedule` entries; `schedules`).

    Every registry also serves the internal workflow that runs schedules ("durable.schedule",
    durable.ticker) by name, without listing it: iterating a registry yields the user's
    workflows only."""

    def __init__(self, workflows: RegistryLike) -> None:
        items = workflows.values() if isinstance(workflows, Mapping) else workflows
        self._by_name: dict[str, Workflow] = {}
        declared: list[Schedule] = []
        for wf in items:
            if isinstance(wf, Schedule):
                declared.append(wf)
                continue
            if not isinstance(wf, Workflow):
                raise ConfigurationError(f"registry entries must be Workflow objects, got {wf!r}")
            if wf.name == TICKER_NAME:
                raise ConfigurationError(f"the workflow name {TICKER_NAME!r} is reserved")
            if wf.name in self._by_name and self._by_name[wf.name] is not wf:
                raise ConfigurationError(f"two workflows share the name {wf.name!r}")
            self._by_name[wf.name] = wf
        if isinstance(workflows, Registry):
            declared = [*workflows.schedules, *declared]
        self.schedules: tuple[Schedule, ...] = self._checked(declared)
        self._ticker: Workflow | None = None

    def _checked(self, declared: list[Schedule]) -> tuple[Schedule, ...]:
        seen: set[tuple[str, str]] = set()
        for schedule in declared:
            name = schedule.workflow_name
            if name not in self._by_name:
                raise ConfigurationError(
                    f"schedule {schedule.id!r} starts workflow {name!r}, which is not registered"
                )
            if (name, schedule.id) in seen:
                raise ConfigurationError(f"two schedules of {name!r} share the id {schedule.id!r}")
            seen.add((name, schedule.id))
        return tuple(declared)

    def __getitem__(self, name: str) -> Workflow:
        if name == TICKER_NAME:
            if self._ticker is None:
                from durable.ticker import ticker_workflow

                self._ticker = ticker_workflow(self)
            return self._ticker
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


RegistryLike = Registry | Mapping[str, Workflow | Schedule] | Iterable[Workflow | Schedule]


def as_registry(workflows: RegistryLike) -> Registry:
    return workflows if isinstance(workflows, Registry) else Registry(workflows)


def load_registry(path: str) -> Registry:
    """Import `module:attribute` and return its workflows (and schedules) as a Registry."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(f"workflows must be given as module:attribute, got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import workflows module {module_name!r}: {exc}") from exc
    try:
        value = getattr(module, attr)
    except AttributeError as exc:
        raise ConfigurationError(f"module {module_name!r} has no attribute {attr!r}") from exc
    if isinstance(value, Workflow | Schedule):
        value = [value]
    return as_registry(value)
