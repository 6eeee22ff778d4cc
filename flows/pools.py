"""Create the project's Prefect work pools, or update their concurrency limits: `python -m flows.pools`.

Idempotent: `python -m flows.pools cpu=2 gpu=1` creates a missing process pool with its limit and
sets the limit of an existing one, leaving its other settings (paused, base job template) alone.
`make deploy` runs it before `prefect deploy --all` (prefect.yaml names the pools).
"""
from __future__ import annotations

import argparse

# A pool's limit caps the runs in flight across all of its workers. One GPU takes one run; the
# CPU pool takes two, as two CPU boxes could. Runs in one checkout still take turns at its
# workspace lock (flows/workspace.py), whatever the limit.
DEFAULT = {"cpu": 2, "gpu": 1}


def limits(specs: list[str]) -> dict[str, int]:
    """Parse `NAME=LIMIT` arguments (a limit is a whole number >= 1)."""
    found = {}
    for spec in specs:
        name, sep, limit = spec.partition("=")
        if not sep or not name or not limit.isdigit() or int(limit) < 1:
            raise ValueError(f"{spec!r}: expected NAME=LIMIT with a whole LIMIT >= 1, e.g. gpu=1")
        found[name] = int(limit)
    return found


def ensure(pools: dict[str, int]) -> list[str]:
    """Create or update each process pool with its limit; returns what was done, one line a pool."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    done = []
    with get_client(sync_client=True) as client:
        for name, limit in pools.items():
            try:
                pool = client.read_work_pool(name)
            except ObjectNotFound:
                client.create_work_pool(WorkPoolCreate(
                    name=name, type=ProcessWorker.type, concurrency_limit=limit,
                    base_job_template=ProcessWorker.get_default_base_job_template()))
                done.append(f"created process work pool {name!r}, concurrency limit {limit}")
                continue
            if pool.type != ProcessWorker.type:
                raise ValueError(f"work pool {name!r} exists with type {pool.type!r}, not "
                                 f"{ProcessWorker.type!r}: delete it or pick another name")
            client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=limit))
            done.append(f"work pool {name!r} exists: concurrency limit {pool.concurrency_limit} -> {limit}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.pools", description=__doc__.splitlines()[0])
    parser.add_argument("pools", nargs="*", metavar="NAME=LIMIT",
                        help=f"pools and limits (default: {' '.join(f'{k}={v}' for k, v in DEFAULT.items())})")
    args = parser.parse_args(argv)
    try:
        lines = ensure(limits(args.pools) or DEFAULT)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
