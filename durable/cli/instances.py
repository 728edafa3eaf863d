"""`durable instances ...`: create, inspect and control workflow instances."""

from __future__ import annotations

import uuid

import click

from durable.cli import render
from durable.cli.bulk import bulk
from durable.cli.client import Api, JSONDict, path
from durable.cli.command import (
    DurableGroup,
    DurationMs,
    emit,
    instance_option,
    parse_json_option,
    with_api,
    workflow_option,
)
from durable.cli.history import history, logs
from durable.cli.watch import watch

STATUSES = ("queued", "running", "waiting", "paused", "complete", "errored", "terminated")
# a list filter only: running instances whose pause is requested but not yet taken
LIST_STATUSES = (*STATUSES, "waitingForPause")
CONTROL_ACTIONS = {
    "pause": "paused",
    "resume": "resumed",
    "terminate": "terminated",
    "restart": "restarted",
}


@click.group(cls=DurableGroup)
def instances() -> None:
    """Create, inspect and control workflow instances."""


def new_id(kind: str) -> str:
    """Ids are chosen here, not by the server, so a retried request cannot act twice."""
    return f"{kind}_{uuid.uuid4().hex}"


@instances.command("list")
@workflow_option
@click.option(
    "--status",
    type=click.Choice(LIST_STATUSES),
    help="Only instances in this status (waitingForPause: running, pause requested).",
)
@click.option("--page-size", type=click.IntRange(1, 100), help="Instances per page (1-100).")
@click.option("--cursor", help="Continue from a previous page's cursor.")
@click.option(
    "--version", "code_version", help="Only instances created by this code version of the workflow."
)
@with_api
def list_instances(
    api: Api,
    workflow: str,
    status: str | None,
    page_size: int | None,
    cursor: str | None,
    code_version: str | None,
) -> None:
    """List instances of a workflow, newest first."""
    query = {"status": status, "pageSize": page_size, "cursor": cursor, "version": code_version}
    emit(api, api.get(path(workflow, "instances"), query), render.instances)


@instances.command("get")
@workflow_option
@instance_option
@click.option("--full", is_flag=True, help="Also show params, start and completion times.")
@with_api
def get(api: Api, workflow: str, instance_id: str, full: bool) -> None:
    """Show an instance's status, current step, output or error."""
    data = api.get(path(workflow, "instances", instance_id))
    emit(api, data, lambda d: render.instance(d, full=full))


@instances.command("create")
@workflow_option
@click.option("-i", "--instance", "instance_id", metavar="ID", help="Instance id (default: new).")
@click.option("--params", metavar="JSON", help="Instance params as a JSON value.")
@with_api
def create(api: Api, workflow: str, instance_id: str | None, params: str | None) -> None:
    """Create an instance (idempotent: an existing id returns the existing instance)."""
    body: JSONDict = {"id": instance_id or new_id("inst")}
    if params is not None:
        body["params"] = parse_json_option(params, "--params")
    reply = api.call("POST", path(workflow, "instances"), body=body)
    created = reply.status_code == 201 or instance_id is None
    emit(api, reply.data, lambda d: _created_text(d, created))


def _created_text(data: JSONDict, created: bool) -> str:
    first = (
        f"Created instance {data.get('id')}"
        if created
        else (f"Instance {data.get('id')} already exists")
    )
    return "\n".join([first, *render.details_lines(data.get("details") or {})])


@instances.command("send-event")
@workflow_option
@instance_option
@click.option("-t", "--type", "event_type", required=True, metavar="TYPE", help="Event type.")
@click.option("--payload", metavar="JSON", help="Event payload as a JSON value.")
@click.option("--event-id", metavar="ID", help="Client event id; resending it stores nothing new.")
@with_api
def send_event(
    api: Api,
    workflow: str,
    instance_id: str,
    event_type: str,
    payload: str | None,
    event_id: str | None,
) -> None:
    """Send an event to an instance (a waiting instance wakes up)."""
    body: JSONDict = {"type": event_type, "id": event_id or new_id("evt")}
    if payload is not None:
        body["payload"] = parse_json_option(payload, "--payload")
    data = api.post(path(workflow, "instances", instance_id, "events"), body)

    def text(d: JSONDict) -> str:
        before = (d.get("status") or {}).get("status", "?")
        return f'Sent event "{event_type}" to instance {instance_id}.\nStatus before: {before}'

    emit(api, data, text)


def _control_command(action: str, done: str) -> click.Command:
    @workflow_option
    @instance_option
    @with_api
    def command(api: Api, workflow: str, instance_id: str) -> None:
        data = api.post(path(workflow, "instances", instance_id, action))
        emit(api, data, lambda _: f"Instance {instance_id} {done}.")

    return click.command(action, help=f"{action.capitalize()} an instance.")(command)


for _action, _done in CONTROL_ACTIONS.items():
    instances.add_command(_control_command(_action, _done))


@instances.command("retry-step")
@workflow_option
@instance_option
@click.option("--delay", type=DurationMs(), help='Wait before the attempt, e.g. "2 s".')
@with_api
def retry_step(api: Api, workflow: str, instance_id: str, delay: int | None) -> None:
    """Give the failed last step of an errored instance one more attempt, or replay a run
    that failed with NondeterminismError once fixed code is deployed."""
    body: JSONDict = {} if delay is None else {"delayMs": delay}
    data = api.post(path(workflow, "instances", instance_id, "retry-failed-step"), body)
    emit(api, data, _retry_text)


def _retry_text(data: JSONDict) -> str:
    retry: JSONDict = data.get("retry") or {}
    inst: JSONDict = data.get("instance") or {}
    if retry.get("replay"):
        first = (
            f"Replaying instance {inst.get('id')} from its recorded steps "
            f"at {retry.get('scheduledAt')} (it had failed with NondeterminismError)."
        )
    else:
        first = (
            f"Retrying step {retry.get('stepKey')} of instance {inst.get('id')} "
            f"at {retry.get('scheduledAt')} (attempts {retry.get('attempts')}"
            f"/{retry.get('maxAttempts')})."
        )
    return "\n".join(
        [
            first,
            *render.details_lines(inst.get("details") or {}),
        ]
    )


instances.add_command(history)
instances.add_command(logs)
instances.add_command(watch)
instances.add_command(bulk)
