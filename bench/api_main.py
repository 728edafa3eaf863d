"""The benchmark's API process: `durable api` as shipped (same uvicorn and logging set-up), serving
the bench workflows."""

from __future__ import annotations

import argparse

import uvicorn

from bench.workflows import workflows
from durable import logs
from durable.api.app import create_app
from durable.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_main")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(Settings(redis_url=args.redis_url, prefix=args.prefix), workflows=workflows)
    logs.configure()  # the shipped default, as `durable api` sets it up
    uvicorn.run(app, host="127.0.0.1", port=args.port, lifespan="on", log_config=None)


if __name__ == "__main__":
    main()
