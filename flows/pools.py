"""Create or update the project's Prefect work pools: `python -m flows.pools [--project-dir DIR]
[--gpu-devices IDS] [NAME=LIMIT ...]`.

Each pool is a process pool whose base job template fixes what its runs execute and where: the
working directory (`--project-dir`, the checkout on the workers' machines), the environment
(CUDA_VISIBLE_DEVICES: `--gpu-devices` on the pool named gpu, "" on every other; DVC_NO_ANALYTICS=1)
and the command (the worker's own `python -m prefect.engine`) are literal values of the template,
and its `variables` schema offers nothing and takes nothing else (additionalProperties: false). So
the Prefect server refuses (422) a run, a deployment or a change to a scheduled run that asks for
other job variables: whoever reaches the API (no login by default) can choose a run's parameters,
never its command, directory or environment.

Idempotent: a missing pool is created; an existing process pool gets the template and the limit
(paused stays as it is); a pool of another type is refused. `make deploy` runs it with PROJECT_DIR
and GPU_DEVICES before `prefect deploy --all` (prefect.yaml names the pools, and sets no job
variables: the pool would refuse them).
"""
from __future__ import annotations

import argparse
import os
from typing import Any

# A pool's limit caps the runs in flight across all of its workers. One GPU takes one run; the
# CPU pool takes two, as two CPU boxes could. Runs in one checkout still take turns at its
# workspace lock (flows/workspace.py), whatever the limit.
DEFAULT = {"cpu": 2, "gpu": 1}
GPU_POOL = "gpu"  # the pool whose runs see --gpu-devices; every other pool's runs see no GPU


def limits(specs: list[str]) -> dict[str, int]:
    """Parse `NAME=LIMIT` arguments (a limit is a whole number >= 1)."""
    found = {}
    for spec in specs:
        name, sep, limit = spec.partition("=")
        if not sep or not name or not limit.isdigit() or int(limit) < 1:
            raise ValueError(f"{spec!r}: expected NAME=LIMIT with a whole LIMIT >= 1, e.g. gpu=1")
        found[name] = int(limit)
    return found


def job_template(pool: str, project_dir: str, gpu_devices: str) -> dict[str, Any]:
    """The process base job template of `pool`: every setting a literal, no variable to change one.

    Prefect's default process template reads each setting from a `{{ variable }}` that a
    deployment or a run may set; here none is left. `command: null` is the worker's default,
    its own interpreter's `-m prefect.engine`."""
    if not os.path.isabs(project_dir):
        raise ValueError(f"project dir {project_dir!r}: expected an absolute path (the checkout on "
                         "the workers' machines)")
    for name, value in (("project dir", project_dir), ("gpu devices", gpu_devices)):
        if "\0" in value or "\n" in value:
            raise ValueError(f"{name} {value!r}: a NUL or newline is not allowed")
    return {
        "job_configuration": {
            "command": None,
            "env": {"CUDA_VISIBLE_DEVICES": gpu_devices if pool == GPU_POOL else "",
                    "DVC_NO_ANALYTICS": "1"},
            "labels": {},
            "name": None,
            "stream_output": True,
            "working_dir": project_dir,
        },
        # Not empty: the server skips validating job variables against an empty schema.
        "variables": {"type": "object", "properties": {}, "additionalProperties": False},
    }


def ensure(pools: dict[str, int], project_dir: str, gpu_devices: str) -> list[str]:
    """Create or update each process pool with its limit and fixed template; returns what was
    done, one line a pool."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    # Every template first: a bad --project-dir or --gpu-devices changes nothing.
    templates = {name: job_template(name, project_dir, gpu_devices) for name in pools}
    done = []
    with get_client(sync_client=True) as client:
        for name, limit in pools.items():
            fixed = templates[name]["job_configuration"]
            what = (f"working dir {fixed['working_dir']}, "
                    f"CUDA_VISIBLE_DEVICES={fixed['env']['CUDA_VISIBLE_DEVICES']!r}")
            try:
                pool = client.read_work_pool(name)
            except ObjectNotFound:
                client.create_work_pool(WorkPoolCreate(
                    name=name, type=ProcessWorker.type, concurrency_limit=limit,
                    base_job_template=templates[name]))
                done.append(f"created process work pool {name!r}, concurrency limit {limit}, {what}")
                continue
            if pool.type != ProcessWorker.type:
                raise ValueError(f"work pool {name!r} exists with type {pool.type!r}, not "
                                 f"{ProcessWorker.type!r}: delete it or pick another name")
            client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=limit,
                                                         base_job_template=templates[name]))
            done.append(f"work pool {name!r} exists: concurrency limit {pool.concurrency_limit} -> "
                        f"{limit}, {what}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.pools", description=__doc__.splitlines()[0])
    parser.add_argument("pools", nargs="*", metavar="NAME=LIMIT",
                        help=f"pools and limits (default: {' '.join(f'{k}={v}' for k, v in DEFAULT.items())})")
    parser.add_argument("--project-dir", default=os.getcwd(), metavar="DIR",
                        help="the checkout the runs work in, on the workers' machines, absolute "
                             "(default: this directory)")
    parser.add_argument("--gpu-devices", default="0", metavar="IDS",
                        help=f"CUDA_VISIBLE_DEVICES of the {GPU_POOL!r} pool's runs (default: 0)")
    args = parser.parse_args(argv)
    try:
        lines = ensure(limits(args.pools) or DEFAULT, args.project_dir, args.gpu_devices)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
