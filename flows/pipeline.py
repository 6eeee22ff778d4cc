"""The pipeline as a Prefect flow: one task per DVC stage, each run through `dvc repro`.

DVC alone decides whether a stage reruns or is skipped, so a Prefect run and `dvc repro` do the
same versioned work and leave the same dvc.lock. Prefect adds retries, timeouts, run history,
artifacts, schedules and the UI. Run it once with `python -m flows.pipeline` (`--help` lists its
options); serve it on a schedule with `python -m flows.serve`.
"""
from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, State
from prefect.tasks import exponential_backoff

from flows import artifacts, dvc, watchdog
from flows.parameters import KEYS, Epochs, Experiment, ImageSize, Model, Recipe, Source, check, resolve
from flows.stage import dvc_stage
from flows.workspace import experiment_workspace, save_experiment, workspace_lock
from tasks.core.config import Params
from tasks.core.params_file import ParamsError
from tasks.core.paths import Paths


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
def pipeline(source: Source = None, recipe: Recipe = None, model: Model = None, epochs: Epochs = None,
             image_size: ImageSize = None, experiment: Experiment = None) -> dict[str, str] | State:
    """Bring the pipeline up to date. With `source`, `recipe`, `model`, `epochs` or `image_size`
    differing from params.yaml, the run is a DVC experiment (named `experiment`, else after the
    flow run) and params.yaml is left as it is; compare with `dvc exp show`. A run whose model the
    gate refused ends Completed, named "Refused", with the gate's reasons as its message.

    The project is the directory the run starts in, fixed by whoever serves or deploys the flow
    (`flows.serve --root`, a work pool's `working_dir`): never a parameter, which anyone who can
    reach the API could point at another project on the machine.

    Args:
        source: where the photos come from (download.source). Empty: as in params.yaml.
        recipe: a recipe of params.yaml, a complete way to train (train.recipe); custom trains
            the train keys. A recipe and a model, epochs or image_size it sets are refused together.
        model: the network to train (train.model). Empty: as in params.yaml.
        epochs: epochs to train (train.epochs). Empty: as in params.yaml.
        image_size: the side in pixels the model sees (train.image_size). Empty: as in params.yaml.
        experiment: the DVC experiment's name when a parameter differs from params.yaml (default:
            the flow run's name): letters, digits, '_', '-' and single dots; never an existing one.
    """
    logger = get_run_logger()
    base = Path.cwd().resolve()
    params, changed = resolve(base, {"source": source, "recipe": recipe, "model": model, "epochs": epochs,
                                     "image_size": image_size})
    # The flow run's name is the API caller's too: check it as strictly as `experiment`.
    name = check("experiment", experiment or flow_run.name or "flow-run") if changed else None
    api, run_id = watchdog.api_url(), str(flow_run.id) if flow_run.id else None

    def crashed(old: str) -> None:
        logger.warning("flow run %s died without finishing (its process was killed): marked Crashed; "
                       "this run resumes its work", old)
        watchdog.mark_crashed(api, old, "its process died; a later run found its lock and took over")

    with workspace_lock(base, params.flow.lock_wait, logger.info, run_id, crashed), \
            watchdog.guard(api, run_id):
        if name is None:
            title = f"Run {flow_run.name} in {base}"
            outcome = run_stages(params, base, title)
            artifacts.publish(params, base, base, outcome, title)
            artifacts.link_data_docs(base / "data/data_docs/index.html")
            return decided(base, outcome)
        logger.info("parameters %s differ from params.yaml: running as DVC experiment %r", changed, name)
        with experiment_workspace(base, name, changed) as work:
            title = f"Experiment {name} ({changed})"
            outcome = run_stages(params, work, title)
            artifacts.publish(params, work, base, outcome, title)
            ref, docs = save_experiment(base, work, name)
            gate = gate_of(work)  # read before the scratch clone goes
        logger.info("saved DVC experiment %s (%s): see `dvc exp show`", name, ref)
        artifacts.link_data_docs(docs)
        return decided(gate, {**outcome, "experiment": name})


def gate_of(work: Path) -> dict:
    """The gate's decision the run's evaluate stage wrote (empty if there is none)."""
    try:
        return json.loads(Paths(work).gate.read_text())
    except (OSError, ValueError):
        return {}


def decided(gate: Path | dict, outcome: dict[str, str]) -> dict[str, str] | State:
    """The run's final state: its outcome, or, when the gate refused the model, a Completed
    state named "Refused" (the UI's run list tells it apart) that says why."""
    gate = gate_of(gate) if isinstance(gate, Path) else gate
    if not gate or gate.get("blessed", True):
        return outcome
    reasons = "; ".join(gate.get("reasons", [])) or "see data/metrics/gate.json"
    return Completed(name="Refused", message=f"the gate refused the model: {reasons}",
                     data={**outcome, "gate": "refused"})


def _option(name: str):
    """An argparse type that checks a value as the flow's parameter `name` does."""
    def parse(text: str) -> object:
        value = int(text) if name in ("epochs", "image_size") and text.lstrip("-").isdigit() else text
        try:
            return check(name, value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    parse.__name__ = name  # argparse names the type in its "invalid ... value" message
    return parse


def parse_args(argv: list[str] | None = None) -> dict[str, object]:
    """The flow's keyword arguments from the command line, and the project root (`root`)."""
    parser = argparse.ArgumentParser(
        prog="python -m flows.pipeline",
        description="Run the pipeline once as a Prefect flow, like `dvc repro`. With no PREFECT_API_URL, "
                    "Prefect starts a temporary server for the run. Options that differ from params.yaml "
                    "make the run a DVC experiment; params.yaml is left as it is.")
    parser.add_argument("--root", type=Path, default=Path("."), help="project root (default: .)")
    for arg, key in KEYS.items():
        parser.add_argument(f"--{arg.replace('_', '-')}", type=_option(arg), metavar=arg.upper(),
                            help=f"sets {key} for this run (default: as in params.yaml)")
    parser.add_argument("--experiment", type=_option("experiment"),
                        help="the experiment's name (default: the flow run's name); letters, digits, "
                             "'_', '-' and single dots")
    args = vars(parser.parse_args(argv))
    return {**args, "root": str(args["root"])}


def main(argv: list[str] | None = None) -> int:
    """Check the options against params.yaml (a bad value fails naming the key, before any stage and
    before Prefect starts), then run the flow once in --root; exit 1 if the run does not complete."""
    kwargs = parse_args(argv)
    root = Path(kwargs.pop("root")).resolve()
    try:
        resolve(root, kwargs)
    except (ParamsError, OSError) as err:
        raise SystemExit(f"error: {err}") from None
    with contextlib.chdir(root):  # the flow works in the directory it starts in
        final = pipeline(**kwargs, return_state=True)
    if not final.is_completed():  # the logs above hold the details; end with the one line that matters
        raise SystemExit(f"error: flow run {final.name}: {final.message}")
    print(final.result())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
