"""The pages: workflows with counts, a workflow's instances, one instance and its live part."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from durable.dashboard.context import data_of
from durable.dashboard.models import InstanceView
from durable.dashboard.render import render
from durable.errors import ValidationError

# What a plain (script-less) form post says after it redirects back to the instance.
NOTICES = {
    "pause": "Pause requested.",
    "resume": "Resumed.",
    "terminate": "Terminated.",
    "restart": "Restarted: a new run begins.",
    "retry-failed-step": "Retrying the failed step.",
    "events": "Event sent.",
}


async def home(request: Request) -> Response:
    workflows = await data_of(request).workflows()
    return render(request, "workflows.html", workflows=workflows)


async def workflow(request: Request) -> Response:
    q = request.query_params
    page = await data_of(request).instances(
        request.path_params["workflow"],
        status=q.get("status") or None,
        cursor=q.get("cursor") or None,
    )
    return render(request, "instances.html", page=page, request_cursor=bool(q.get("cursor")))


async def instance(request: Request) -> Response:
    view = await instance_view(request)
    notice = NOTICES.get(request.query_params.get("done", ""))
    return instance_page(request, view, notice=notice)


def instance_page(
    request: Request,
    view: InstanceView,
    *,
    notice: str | None = None,
    problem: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "instance.html",
        status_code,
        inst=view,
        notice=notice,
        problem=problem,
        form=form or {},
    )


async def live(request: Request) -> Response:
    """The parts of an instance page that change, polled by the page while the run goes on."""
    return render(request, "_live.html", inst=await instance_view(request))


async def instance_view(request: Request, *, current_run: bool = False) -> InstanceView:
    run = None if current_run else run_number(request.query_params.get("run"))
    p = request.path_params
    return await data_of(request).instance(p["workflow"], p["id"], run)


def run_number(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 9:
        raise ValidationError(
            f"run must be a run number, got {value[:40]!r}",
            [{"path": "run", "message": "not a run number"}],
        )
    return int(value)
