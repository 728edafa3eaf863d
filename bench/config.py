"""Problem sizes of a full run and of a `--quick` smoke run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    throughput: int  # 3-step workflows (and raw arq jobs) per drain
    events: int  # event -> resume samples per repetition
    event_rate_per_s: int  # open-loop send rate of those events
    timers: int  # instances sleeping 1 s per repetition
    timer_rate_per_s: int  # pace at which those instances are created
    memory: int  # completed instances measured by INFO memory
    sleepers: int  # background instances sleeping far in the future
    scale_pairs: int  # drains with and without those sleepers (at least `repeat`)
    creates: int  # single creates through the API per repetition
    batch_creates: int  # instances created through the batch route per repetition
    idle_window_s: float  # how long idle workers are watched
    repeat: int  # default repetitions of each measurement


FULL = Sizes(
    throughput=5_000,
    events=500,
    event_rate_per_s=100,
    timers=1_000,
    timer_rate_per_s=100,
    memory=10_000,
    sleepers=100_000,
    scale_pairs=5,
    creates=5_000,
    batch_creates=20_000,
    idle_window_s=20.0,
    repeat=3,
)

QUICK = Sizes(
    throughput=500,
    events=100,
    event_rate_per_s=100,
    timers=200,
    timer_rate_per_s=100,
    memory=1_000,
    sleepers=10_000,
    scale_pairs=1,
    creates=500,
    batch_creates=2_000,
    idle_window_s=6.0,
    repeat=1,
)

WORKER_COUNTS = (1, 2)
HTTP_CONCURRENCY = 16
BATCH_SIZE = 100
