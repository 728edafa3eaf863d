"""Step errors as workflow code sees them, identical on first run and on replay.

A failed step's exception cannot cross workers (nothing is pickled), so the workflow receives a
StepFailedError carrying the recorded name and message. It is also an instance of the original
class when that class is known everywhere — durable's own errors and Python's built-in
exceptions — so `except NonRetryableError:` or `except ValueError:` around `step.do` behave the
same on every replay.
"""

from __future__ import annotations

import builtins

from durable import errors
from durable.errors import StepFailedError, WorkflowError
from durable.records import StepError, clean_text
from durable.types import JSONDict

_LIBRARY = {
    cls.__name__: cls
    for cls in (
        errors.NonRetryableError,
        errors.StepTimeoutError,
        errors.WorkerLostError,
        errors.StepResultError,
        errors.StepLimitError,
        errors.InvalidStepError,
    )
}
_CLASSES: dict[str, type[StepFailedError]] = {}


def kind_of(exc: BaseException) -> str:
    """The class name a replay can rebuild (the error's own `name` may be user-chosen)."""
    return type(exc).__name__


def error_name(exc: BaseException) -> str:
    return exc.name if isinstance(exc, WorkflowError) else type(exc).__name__


def error_record(exc: BaseException) -> JSONDict:
    return {"name": clean_text(error_name(exc)), "message": clean_text(str(exc) or error_name(exc))}


def step_error(exc: BaseException) -> StepError:
    """A step's error, plus the class a replay rebuilds when it differs from the name."""
    record = error_record(exc)
    kind = kind_of(exc)
    return StepError(record["name"], record["message"], kind if kind != record["name"] else None)


def _base(kind: str) -> type[BaseException] | None:
    if kind in _LIBRARY:
        return _LIBRARY[kind]
    candidate = getattr(builtins, kind, None)
    if isinstance(candidate, type) and issubclass(candidate, Exception):
        return candidate
    return None


def _class_for(kind: str) -> type[StepFailedError]:
    if kind not in _CLASSES:
        base = _base(kind)
        cls: type[StepFailedError] = StepFailedError
        if base is not None:
            try:
                cls = type(kind, (StepFailedError, base), {"__module__": __name__})
            except TypeError:  # a built-in with its own memory layout (OSError family)
                cls = StepFailedError
        _CLASSES[kind] = cls
    return _CLASSES[kind]


def step_failed(recorded: StepError) -> StepFailedError:
    """Rebuild the exception of a recorded step error."""
    cls = _class_for(recorded.kind or recorded.name)
    error = cls.__new__(cls)
    WorkflowError.__init__(error, recorded.message, name=recorded.name)
    error.args = (recorded.message,)
    return error
