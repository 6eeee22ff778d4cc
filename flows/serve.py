"""Serve the pipeline as a Prefect deployment on a cron schedule: `python -m flows.serve`.

Runs then start on the schedule, from the UI ("Run" on the deployment, with parameters) or with
`prefect deployment run dogs-vs-cats/<name> -p epochs=20`. Runs share one workspace, so the
deployment allows one run at a time and queues the others. Point PREFECT_API_URL at a server
(`prefect server start`, on 127.0.0.1 by default) to see them in the UI.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.settings import PREFECT_API_URL
from prefect.types.entrypoint import EntrypointType
from prefect.utilities.callables import ParameterSchema

from flows.parameters import closed
from flows.pipeline import pipeline
from tasks.core.cli import describe
from tasks.core.params_file import ParamsError, load_params


class ClosedSchema(ParameterSchema):
    """A deployment's parameter schema that refuses parameters the flow does not have."""
    additionalProperties: bool  # noqa: N815 (JSON Schema's own key)


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
        params = load_params(root / "params.yaml")
    except ParamsError as err:
        parser.exit(2, f"error: {err}\n")
    cron = args.cron or params.flow.cron
    os.chdir(root)  # the project every run works in: fixed here, not a run parameter
    deployment = pipeline.to_deployment(
        name=args.name, cron=None if args.no_schedule else cron,
        # One run at a time across every process serving this deployment; the rest wait in line.
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        tags=["dvc"], description=pipeline.description,
        # Runs import `flows.pipeline` as a module, so they work from any directory.
        entrypoint_type=EntrypointType.MODULE_PATH)
    # Prefect's schema lists the flow's parameters but lets any other name through; closed, the
    # API refuses a run with an unknown one (such as the `root` older versions took) at creation.
    schema = closed(deployment._parameter_openapi_schema.model_dump(exclude_unset=True), list(params.recipes))
    deployment._parameter_openapi_schema = ClosedSchema(**schema)
    # Prefect would pause the schedule on the way out through its API client, whose retries kept
    # a serve whose API had died deaf to SIGINT/SIGTERM for 28 s: pause it ourselves, once.
    try:
        with private_tempdir():
            serve(deployment, pause_on_shutdown=False)
    finally:  # SIGTERM ends serve with SystemExit
        pause(f"{pipeline.name}/{args.name}")
    return 0


@contextlib.contextmanager
def private_tempdir() -> Iterator[None]:
    """A temp folder of this process's own for the Prefect runner's storage, removed on the way
    out however the runner stopped (it would leave runner_storage/<uuid> behind in /tmp)."""
    mine = tempfile.mkdtemp(prefix="flows-serve-")
    tempfile.tempdir, before = mine, tempfile.tempdir
    try:
        yield
    finally:
        tempfile.tempdir = before
        shutil.rmtree(mine, ignore_errors=True)


def pause(deployment: str, seconds: float = 5) -> None:
    """Pause the deployment's schedule, as Prefect's serve does when it stops; one try, bounded,
    and only a warning when the API does not answer."""
    api = PREFECT_API_URL.value()
    try:
        found = httpx.get(f"{api}/deployments/name/{deployment}", timeout=seconds)
        found.raise_for_status()
        httpx.post(f"{api}/deployments/{found.json()['id']}/pause_deployment",
                   timeout=seconds).raise_for_status()
        print(f"paused the schedule of {deployment}")
    except (httpx.HTTPError, KeyError, ValueError) as err:
        print(f"warning: could not pause the schedule of {deployment} ({api}): {err}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
