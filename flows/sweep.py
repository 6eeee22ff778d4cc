"""A sweep: each point of a parameter grid as a run of a pipeline deployment on a work pool, at most
`parallel` at a time, then one table artifact comparing them, best test accuracy first.

    python -m flows.sweep --model residual xception_mini --image-size 32 64 --epochs 1 3 --parallel 2

Each point is a subflow run of the deployment (dogs-vs-cats/cpu by default, see prefect.yaml), so
the UI shows the sweep with its runs, and the work pool's concurrency limit still applies. A
point that differs from params.yaml is saved as the DVC experiment `<sweep run>-<n>`, compared
with `dvc exp show` in `root`, the checkout the pool's workers run in.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.deployments import arun_deployment
from prefect.runtime import flow_run

from flows.compare import table
from tasks.core.cli import describe

GRID = {"model": str, "image_size": int, "epochs": int}  # the pipeline parameters a sweep varies


def grid(axes: dict[str, list | None]) -> list[dict[str, object]]:
    """Every combination of the given axes (None or empty: params.yaml's value), in order."""
    given = {name: values for name, values in axes.items() if values}
    if not given:
        raise ValueError(f"nothing to sweep: give at least one of {', '.join(GRID)} a list of values")
    return [dict(zip(given, combo)) for combo in itertools.product(*given.values())]


@flow(name="dogs-vs-cats-sweep", log_prints=True)
async def sweep(model: list[str] | None = None, image_size: list[int] | None = None,
                epochs: list[int] | None = None, deployment: str = "dogs-vs-cats/cpu",
                parallel: int = 2, root: str = ".") -> list[dict]:
    """Run the grid on `deployment`, `parallel` runs at a time; returns the comparison rows."""
    if parallel < 1:
        raise ValueError(f"parallel={parallel}: at least one run at a time")
    logger = get_run_logger()
    points = grid({"model": model, "image_size": image_size, "epochs": epochs})
    prefix = flow_run.name or "sweep"
    slots = asyncio.Semaphore(parallel)
    logger.info("%d runs of %s, at most %d at a time", len(points), deployment, parallel)

    async def launch(n: int, point: dict[str, object]) -> tuple[str, dict, str]:
        name = f"{prefix}-{n}"
        async with slots:
            run = await arun_deployment(deployment, parameters={**point, "experiment": name},
                                        flow_run_name=name, as_subflow=True, timeout=None)
        logger.info("%s %s: %s", name, point, run.state.name if run.state else "no state")
        return name, point, run.state.name if run.state else "Unknown"

    runs = await asyncio.gather(*(launch(n, point) for n, point in enumerate(points, 1)))
    rows = await asyncio.to_thread(table, Path(root).resolve(), runs)
    best = next((r for r in rows if r["accuracy"] is not None), None)
    await acreate_table_artifact(rows, key="sweep-comparison", description=(
        f"{len(rows)} runs of {deployment}; best: {best['run']} (test accuracy {best['accuracy']:.4f})"
        if best else f"{len(rows)} runs of {deployment}; none has metrics"))
    failed = [r["run"] for r in rows if r["state"] != "Completed"]
    if failed:  # the table above still says what each run did
        raise RuntimeError(f"{len(failed)} of {len(rows)} runs did not complete: {', '.join(failed)}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.sweep", description=describe(__doc__))
    for name, kind in GRID.items():
        parser.add_argument(f"--{name.replace('_', '-')}", nargs="+", type=kind, metavar="V",
                            help=f"values of {name} (default: params.yaml's)")
    parser.add_argument("--deployment", default="dogs-vs-cats/cpu", help="(default: dogs-vs-cats/cpu)")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time (default: 2)")
    parser.add_argument("--root", default=".", help="the checkout the workers run in (default: .)")
    args = parser.parse_args(argv)
    try:
        grid({name: getattr(args, name) for name in GRID})
        if args.parallel < 1:
            raise ValueError(f"--parallel {args.parallel}: at least one run at a time")
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    state = asyncio.run(sweep(model=args.model, image_size=args.image_size, epochs=args.epochs,
                              deployment=args.deployment, parallel=args.parallel, root=args.root,
                              return_state=True))
    if not state.is_completed():
        raise SystemExit(f"error: sweep {state.name}: {state.message}")
    for row in state.result():
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
