"""The pipeline as a Prefect flow: one task per DVC stage, each run through `dvc repro`.

DVC alone decides whether a stage reruns or is skipped, so a Prefect run and `dvc repro` do the
same versioned work and leave the same dvc.lock. Prefect adds retries, timeouts, run history,
artifacts, schedules and the UI. Run it once with `python -m flows.pipeline` (`--help` lists its
options); serve it on a schedule with `python -m flows.serve`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from flows import artifacts, dvc, watchdog
from flows.stage import dvc_stage
from flows.workspace import experiment_workspace, save_experiment, workspace_lock
from tasks.core.config import Params
from tasks.core.params_file import ParamsError, parse_params, read_params_file

# The flow parameters most people change, and the params.yaml keys they set.
OVERRIDES = {"source": "download.source", "model": "train.model", "epochs": "train.epochs",
             "image_size": "train.image_size"}


def resolve(root: Path, given: dict[str, object]) -> tuple[Params, dict[str, object]]:
    """params.yaml with the flow's parameters applied, checked like any params (a bad value
    fails the run before any stage, naming the key), and the keys that actually differ."""
    path = root / "params.yaml"
    raw = read_params_file(path)  # as DVC reads it; aliases and duplicate keys refused
    changed = {}
    for arg, key in OVERRIDES.items():
        section, leaf = key.split(".")
        if given.get(arg) is not None and (raw.get(section) or {}).get(leaf) != given[arg]:
            changed[key] = given[arg]
            raw.setdefault(section, {})[leaf] = given[arg]
    return parse_params(raw, f"{path} with flow parameters {changed}" if changed else str(path)), changed


def run_stages(params: Params, work: Path, title: str) -> dict[str, str]:
    """Run the six stages in order in `work`. A failed stage fails the flow run with its message,
    and no stage after it runs; the run's summary artifact then says where it stopped and why."""
    outcome: dict[str, str] = {}
    # One `dvc status` (about a second) settles every stage that is up to date, instead of six
    # `dvc repro` processes each saying so. Once a stage runs, DVC rechecks each later stage.
    dirty = dvc.status(work, params.flow.lock_wait, get_run_logger().warning)
    for stage in dvc.stages(work):
        # Only download touches the network; the other stages are deterministic, so never retried.
        retries = params.flow.download_retries if stage == "download" else 0
        state = dvc_stage.with_options(retries=retries, retry_delay_seconds=exponential_backoff(10))(
            stage, str(work), params.flow.timeouts.of(stage), params.flow.lock_wait,
            up_to_date=stage not in dirty and "ran" not in outcome.values(), return_state=True)
        if not state.is_completed():
            artifacts.publish_failure(outcome, stage, state.message or state.name, title)
            state.result()  # raises the stage's StageFailed: the run fails with its message
        outcome[stage] = "cached" if state.name == "Cached" else "ran"
    if params.flow.push:  # scheduled runs publish what they made to the team's DVC remote
        said = dvc.push(work).strip().splitlines()
        get_run_logger().info("flow.push: dvc push: %s", said[-1] if said else "done")
        outcome["push"] = "pushed"
    return outcome


@flow(name="dogs-vs-cats", log_prints=True)
def pipeline(root: str = ".", source: str | None = None, model: str | None = None,
             epochs: int | None = None, image_size: int | None = None,
             experiment: str | None = None) -> dict[str, str]:
    """Bring the pipeline up to date. With `source`, `model`, `epochs` or `image_size` differing
    from params.yaml, the run is a DVC experiment (named `experiment`, else after the flow run)
    and params.yaml is left as it is; compare with `dvc exp show`."""
    logger = get_run_logger()
    base = Path(root).resolve()
    params, changed = resolve(base, {"source": source, "model": model, "epochs": epochs,
                                     "image_size": image_size})
    api, run_id = watchdog.api_url(), str(flow_run.id) if flow_run.id else None

    def crashed(old: str) -> None:
        logger.warning("flow run %s died without finishing (its process was killed): marked Crashed; "
                       "this run resumes its work", old)
        watchdog.mark_crashed(api, old, "its process died; a later run found its lock and took over")

    with workspace_lock(base, params.flow.lock_wait, logger.info, run_id, crashed), \
            watchdog.guard(api, run_id):
        if not changed:
            title = f"Run {flow_run.name} in {base}"
            outcome = run_stages(params, base, title)
            artifacts.publish(params, base, base, outcome, title)
            artifacts.link_data_docs(base / "data/data_docs/index.html")
            return outcome
        name = experiment or flow_run.name or "flow-run"
        logger.info("parameters %s differ from params.yaml: running as DVC experiment %r", changed, name)
        with experiment_workspace(base, name, changed) as work:
            title = f"Experiment {name} ({changed})"
            outcome = run_stages(params, work, title)
            artifacts.publish(params, work, base, outcome, title)
            ref, docs = save_experiment(base, work, name)
        logger.info("saved DVC experiment %s (%s): see `dvc exp show`", name, ref)
        artifacts.link_data_docs(docs)
        return {**outcome, "experiment": name}


def parse_args(argv: list[str] | None = None) -> dict[str, object]:
    """The flow's keyword arguments from the command line: one option per flow parameter."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.pipeline",
        description="Run the pipeline once as a Prefect flow, like `dvc repro`. With no PREFECT_API_URL, "
                    "Prefect starts a temporary server for the run. Options that differ from params.yaml "
                    "make the run a DVC experiment; params.yaml is left as it is.")
    parser.add_argument("--root", type=Path, default=Path("."), help="project root (default: .)")
    for arg, key in OVERRIDES.items():
        kind = int if arg in ("epochs", "image_size") else str
        parser.add_argument(f"--{arg.replace('_', '-')}", type=kind, metavar=arg.upper(),
                            help=f"sets {key} for this run (default: as in params.yaml)")
    parser.add_argument("--experiment", help="the experiment's name (default: the flow run's name)")
    args = vars(parser.parse_args(argv))
    return {**args, "root": str(args["root"])}


def main(argv: list[str] | None = None) -> int:
    """Check the options against params.yaml (a bad value fails naming the key, before any stage and
    before Prefect starts), then run the flow once; exit 1 if the run does not complete."""
    kwargs = parse_args(argv)
    try:
        resolve(Path(kwargs["root"]).resolve(), kwargs)
    except (ParamsError, OSError) as err:
        raise SystemExit(f"error: {err}") from None
    final = pipeline(**kwargs, return_state=True)
    if not final.is_completed():  # the logs above hold the details; end with the one line that matters
        raise SystemExit(f"error: flow run {final.name}: {final.message}")
    print(final.result())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
