"""Serve the pipeline as a Prefect deployment on a cron schedule: `python -m flows.serve`.

Runs then start on the schedule, from the UI ("Run" on the deployment, with parameters) or with
`prefect deployment run dogs-vs-cats/<name> -p epochs=20`. Runs share one workspace, so the
deployment allows one run at a time and queues the others. Point PREFECT_API_URL at a server
(`prefect server start`, on 127.0.0.1 by default) to see them in the UI.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.types.entrypoint import EntrypointType

from flows.pipeline import pipeline
from tasks.core.cli import describe
from tasks.core.params_file import ParamsError, load_params


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until interrupted (Ctrl-C pauses the schedule)."""
    parser = argparse.ArgumentParser(prog="python -m flows.serve", description=describe(__doc__))
    parser.add_argument("--name", default="scheduled", help="deployment name (default: scheduled)")
    parser.add_argument("--cron", help="cron schedule (default: flow.cron in params.yaml)")
    parser.add_argument("--no-schedule", action="store_true", help="serve without a schedule: runs start "
                        "only from the UI or `prefect deployment run`")
    parser.add_argument("--root", type=Path, default=Path("."), help="project root (default: .)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        cron = args.cron or load_params(root / "params.yaml").flow.cron
    except ParamsError as err:
        parser.exit(2, f"error: {err}\n")
    pipeline.serve(
        name=args.name, cron=None if args.no_schedule else cron, parameters={"root": str(root)},
        # One run at a time across every process serving this deployment; the rest wait in line.
        global_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        tags=["dvc"], description=pipeline.description,
        # Runs import `flows.pipeline` as a module, so they work from any directory.
        entrypoint_type=EntrypointType.MODULE_PATH)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
