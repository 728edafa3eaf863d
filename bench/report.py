"""Results: one Metric per measured quantity, printed as a table and saved as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import median


@dataclass
class Metric:
    scenario: str
    name: str
    unit: str
    values: list[float]
    bar: str = ""
    passed: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return median(self.values)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(median=self.median, min=min(self.values), max=max(self.values))
        return out


def metric(
    scenario: str,
    name: str,
    unit: str,
    values: Sequence[float],
    *,
    bar: str = "",
    ok: Callable[[float], bool] | None = None,
    note: str = "",
) -> Metric:
    """A Metric; with `ok`, the bar is judged on the median."""
    m = Metric(scenario, name, unit, [float(v) for v in values], bar=bar, note=note)
    if ok is not None and not math.isnan(m.median):
        m.passed = bool(ok(m.median))
    return m


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(metrics: Sequence[Metric]) -> str:
    head = ("scenario", "metric", "median", "min-max", "unit", "bar", "result")
    rows = [head]
    for m in metrics:
        spread = f"{_fmt(min(m.values))}-{_fmt(max(m.values))}"
        verdict = {True: "PASS", False: "FAIL", None: ""}[m.passed]
        rows.append((m.scenario, m.name, _fmt(m.median), spread, m.unit, m.bar, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def write_json(path: Path, header: dict[str, Any], metrics: Sequence[Metric]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**header, "results": [m.summary() for m in metrics]}
    path.write_text(json.dumps(body, indent=2) + "\n")
