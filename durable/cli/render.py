"""Readable text for API responses: short lines and aligned tables, no colour codes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

JSONDict = dict[str, Any]
Formatter = Callable[[list[JSONDict]], str]
TERMINAL = frozenset({"complete", "errored", "terminated"})


def compact(value: Any, limit: int = 60) -> str:
    """One-line JSON, cut to `limit` characters."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def compact_text(text: str, limit: int = 120) -> str:
    """Text cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return "\n".join(table_rows(headers, rows))


def table_rows(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The header line, then one string per row (aligned columns)."""
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [headers, *cells]
    return [
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]


def error_text(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('name', 'Error')}: {error.get('message', '')}"
    return str(error)


def workflows(data: JSONDict) -> str:
    names = [[w.get("name")] for w in data.get("workflows", [])]
    return table(["WORKFLOW"], names) if names else "No workflows registered."


def instances(data: JSONDict) -> str:
    rows = [
        [
            i.get("id"),
            i.get("details", {}).get("status"),
            i.get("details", {}).get("runNumber"),
            i.get("createdAt"),
            i.get("updatedAt"),
        ]
        for i in data.get("instances", [])
    ]
    text = table(["ID", "STATUS", "RUN", "CREATED", "UPDATED"], rows) if rows else "No instances."
    if data.get("hasNextPage") and data.get("nextCursor"):
        text += f"\nMore instances: --cursor {data['nextCursor']}"
    return text


def step_summary(step: JSONDict) -> str:
    """`key (type, status), waiting for event "x", attempt 2/3, ...` for one step entry."""
    parts = [f"{step.get('stepKey')} ({step.get('type')}, {step.get('status')})"]
    waiting = step.get("status") == "waiting"
    if step.get("child"):
        parts.append(f"{'waiting for' if waiting else 'child'} {child_text(step['child'])}")
    if waiting and step.get("waitEventType"):
        parts.append(f'waiting for event "{step["waitEventType"]}"')
    if waiting and step.get("wakeAt"):
        parts.append(f"until {step['wakeAt']}")
    if (step.get("maxAttempts") or 1) > 1:
        parts.append(f"attempt {step.get('attempts')}/{step.get('maxAttempts')}")
    if step.get("nextRetryAt"):
        parts.append(f"next retry at {step['nextRetryAt']}")
    if step.get("error"):
        parts.append(f"error {error_text(step['error'])}")
    return ", ".join(parts)


def details_lines(details: JSONDict) -> list[str]:
    lines = [f"Status: {details.get('status')}"]
    if "output" in details and details.get("status") == "complete":
        lines.append(f"Output: {compact(details['output'], 200)}")
    if details.get("error"):
        lines.append(f"Error: {error_text(details['error'])}")
    return lines


def instance(data: JSONDict, full: bool = False) -> str:
    meta: JSONDict = data.get("meta") or {}
    details: JSONDict = data.get("details") or {}
    lines = [f"Instance {data.get('id')} ({meta.get('workflowName', '?')})"]
    lines += details_lines(details)
    lines.append(f"Run: {details.get('runNumber', meta.get('runNumber'))}")
    if meta.get("version"):
        lines.append(f"Code version: {meta['version']}")
    if meta.get("parent"):
        lines.append(f"Parent: {child_text(meta['parent'])}")
    if meta.get("currentStep"):
        lines.append(f"Current step: {step_summary(meta['currentStep'])}")
    if meta.get("pauseRequested"):
        lines.append("Pause requested: yes (at the next step boundary)")
    lines += [f"Created: {cell(meta.get('createdAt'))}", f"Updated: {cell(meta.get('updatedAt'))}"]
    if full:
        lines += [
            f"Started: {cell(meta.get('startedAt'))}",
            f"Completed: {cell(meta.get('completedAt'))}",
            f"Params: {json.dumps(meta.get('params'), indent=2, ensure_ascii=False)}",
        ]
    return "\n".join(lines)


def child_text(ref: JSONDict) -> str:
    """`child workflow wf/id` for a step's child or an instance's parent."""
    return f"workflow {ref.get('workflow')}/{ref.get('id')}"


def step_detail(step: JSONDict) -> str:
    if step.get("type") == "patch":
        return "patched: this run takes the new code path"
    if step.get("error"):
        return " ".join(error_text(step["error"]).split())  # one table row, whatever the text
    if step.get("child") and step.get("status") == "waiting":
        return f"waiting for child {child_text(step['child'])}"
    if step.get("child") and step.get("result") is None:
        return f"child {child_text(step['child'])}"
    if step.get("status") == "waiting" and step.get("waitEventType"):
        return f'waiting for event "{step["waitEventType"]}"'
    if step.get("status") == "waiting" and step.get("wakeAt"):
        return f"wakes at {step['wakeAt']}"
    if step.get("nextRetryAt"):
        return f"next retry at {step['nextRetryAt']}"
    return compact(step.get("result")) if step.get("status") == "completed" else ""


def failed_attempt_line(attempt: JSONDict) -> str:
    """`attempt 2 failed 2026-...Z  RuntimeError: boom` on one line."""
    message = " ".join(error_text(attempt.get("error")).split())
    return f"attempt {attempt.get('attempt')} failed {attempt.get('at')}  {compact_text(message)}"


def failed_attempt_lines(step: JSONDict) -> list[str]:
    """Each failed attempt kept on the step, after a note on older ones no longer kept."""
    kept: list[JSONDict] = step.get("failedAttempts") or []
    dropped = (step.get("failedAttemptsTotal") or 0) - len(kept)
    lines = [f"({dropped} earlier failed attempts not kept)"] if dropped > 0 else []
    return lines + [failed_attempt_line(a) for a in kept]


def steps(entries: list[JSONDict]) -> str:
    rows = [
        [
            s.get("stepKey"),
            s.get("type"),
            s.get("status"),
            f"{s.get('attempts')}/{s.get('maxAttempts')}" if s.get("type") == "do" else "-",
            s.get("updatedAt"),
            step_detail(s),
        ]
        for s in entries
    ]
    header, *lines = table_rows(
        ["STEP", "TYPE", "STATUS", "ATTEMPTS", "UPDATED", "RESULT / DETAIL"], rows
    )
    out = [header]
    for line, entry in zip(lines, entries, strict=True):
        out.append(line)
        out += ["  " + failed for failed in failed_attempt_lines(entry)]
    return "\n".join(out)


def events(entries: list[JSONDict]) -> str:
    rows = [
        [
            e.get("id"),
            e.get("type"),
            e.get("createdAt"),
            e.get("consumedByStepKey"),
            compact(e.get("payload")),
        ]
        for e in entries
    ]
    return table(["EVENT", "TYPE", "CREATED", "CONSUMED BY", "PAYLOAD"], rows)


def log_line(entry: JSONDict) -> str:
    """`<time> LEVEL [step (attempt n)] message {data}`; no brackets outside any step."""
    where = ""
    if entry.get("stepKey"):
        attempt = f" (attempt {entry['attempt']})" if entry.get("attempt") else ""
        where = f"[{entry['stepKey']}{attempt}] "
    level = str(entry.get("level", "")).upper()
    data = f" {compact(entry['data'], 200)}" if entry.get("data") is not None else ""
    return f"{entry.get('createdAt')} {level:<5} {where}{entry.get('message')}{data}"


def history(data: JSONDict) -> str:
    sections = [f"Run {data.get('runNumber')}"]
    sections += _section("Steps", data.get("steps") or [], steps, data, "steps")
    sections += _section("Events", data.get("events") or [], events, data, "events")
    if "logs" in data:
        logs = data.get("logs") or []
        sections += _section("Logs", logs, lambda e: "\n".join(map(log_line, e)), data, "logs")
    return "\n".join(sections)


def _section(
    title: str, entries: list[JSONDict], fmt: Formatter, data: JSONDict, kind: str
) -> list[str]:
    lines = [f"\n{title} ({len(entries)}):"]
    lines.append(_indent(fmt(entries)) if entries else f"  No {kind}.")
    if data.get(f"{kind}HasNextPage") and data.get(f"{kind}Cursor"):
        lines.append(f"  More {kind}: --{kind}-cursor {data[f'{kind}Cursor']}")
    return lines


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
