"""Templates (Jinja2, autoescaped), the filters they use, and the dashboard's URLs."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from durable.dashboard.models import STATUSES, TERMINAL

HERE = Path(__file__).parent
PRETTY_MAX = 20_000  # characters of JSON shown in full on a page
COMPACT_MAX = 300


def static_version() -> str:
    """Changes with the CSS and JS, so a browser never keeps an old copy after an upgrade."""
    digest = hashlib.sha256()
    for path in sorted((HERE / "static").iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


STATIC_VERSION = static_version()


def clock(value: str | None) -> str:
    """'2026-02-02T15:52:06.284Z' -> '2026-02-02 15:52:06' (UTC, as every page says)."""
    if not value:
        return "—"
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def pretty(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= PRETTY_MAX else text[:PRETTY_MAX] + "\n… (cut here)"


def compact(value: Any) -> str:
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)
    return text if len(text) <= COMPACT_MAX else text[: COMPACT_MAX - 1] + "…"


def form_key() -> str:
    """A fresh key per rendered form: a double submit acts once (Idempotency-Key, event id)."""
    return secrets.token_hex(16)


def state_of(status: str, pause_requested: bool) -> str:
    """The state the action buttons follow: a running instance with a pause pending is
    'pausing'."""
    return "pausing" if status == "running" and pause_requested else status


class Urls:
    """Paths of every dashboard page, under the server's root path."""

    def __init__(self, root_path: str) -> None:
        self.home = f"{root_path}/dashboard"
        self.login_path = f"{self.home}/-/login"
        self.logout = f"{self.home}/-/logout"

    def static(self, name: str) -> str:
        return f"{self.home}/-/static/{name}?v={STATIC_VERSION}"

    def login(self, next_path: str | None = None) -> str:
        return self.login_path + _query(next=next_path)

    def workflow(self, workflow: str, status: str | None = None, cursor: str | None = None) -> str:
        return f"{self.home}/{_seg(workflow)}" + _query(status=status, cursor=cursor)

    def instance(self, workflow: str, instance_id: str, run: int | None = None) -> str:
        return f"{self.home}/{_seg(workflow)}/{_seg(instance_id)}" + _query(run=run)

    def live(self, workflow: str, instance_id: str, run: int | None = None) -> str:
        return f"{self.home}/{_seg(workflow)}/{_seg(instance_id)}/live" + _query(run=run)

    def action(self, workflow: str, instance_id: str, action: str) -> str:
        return f"{self.home}/{_seg(workflow)}/{_seg(instance_id)}/{action}"


def _seg(value: str) -> str:
    return quote(value, safe="")


def _query(**params: Any) -> str:
    present = {k: v for k, v in params.items() if v is not None and v != ""}
    return f"?{urlencode(present)}" if present else ""


def urls_of(request: Request) -> Urls:
    return Urls(request.scope.get("root_path", "").rstrip("/"))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every page shows user-controlled text: ids, params, payloads, errors
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(clock=clock, pretty=pretty, compact=compact)
    env.globals.update(statuses=STATUSES, terminal=TERMINAL, form_key=form_key, state_of=state_of)
    return env


ENV = _environment()


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("urls", urls_of(request))
    context.setdefault("signed_in", request.scope.get("durable.dashboard.auth") == "cookie")
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)
