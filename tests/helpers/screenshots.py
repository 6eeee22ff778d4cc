"""The Prefect UI's pictures in docs/, taken as a person sees them: a real server with its UI, the
deployment served by `flows.serve`, one run whose model the gate blesses and one it refuses,
then headless Chromium on the run list and on the deployment's run form.

    python -m tests.helpers.screenshots docs/     # about 5 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from .browser import CHROMIUM
from .prefect_server import FINAL, free_port, prefect_env, started, wait_for
from .projects import new_project


def _run(api: str, deployment: str, logs: list[Path]) -> dict:
    """Start a run of `deployment` and wait until it ends; its final flow run."""
    made = httpx.post(f"{api}/deployments/{deployment}/create_flow_run", json={"parameters": {}}, timeout=30)
    made.raise_for_status()
    run_id = made.json()["id"]

    def final() -> dict | None:
        run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=5).json()
        return run if run["state"]["type"] in FINAL else None

    return wait_for("the run to end", final, 900, logs)


def shoot(url: str, out: Path, profile: Path, size: str = "1400,800", budget: int = 20000) -> None:
    """A PNG of `url` as headless Chromium draws it once its scripts have run `budget` ms."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-prefers-reduced-motion",
                    f"--user-data-dir={profile}", f"--window-size={size}", f"--virtual-time-budget={budget}",
                    f"--screenshot={out}", url], check=True, capture_output=True, timeout=180)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.screenshots", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for prefect-runs.png and prefect-run-form.png")
    parser.add_argument("--form-only", action="store_true", help="only the run form: start no run")
    args = parser.parse_args(argv)
    if CHROMIUM is None:
        parser.exit(2, "error: chromium not found (Debian: apt-get install chromium)\n")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = new_project(tmp / "project", evaluate={"min_accuracy": 0.0})
        port = free_port()
        api, ui = f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}"
        env = prefect_env(tmp / "home", PREFECT_API_URL=api, PREFECT_UI_API_URL=api, PREFECT_UI_ENABLED="true")
        logs = [tmp / "server.log", tmp / "serve.log"]
        server = [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)]
        serve = [sys.executable, "-m", "flows.serve", "--name", "scheduled", "--root", str(root)]
        with started(server, tmp, env, logs[0]), contextlib.ExitStack() as stack:
            wait_for("the server", lambda: httpx.get(f"{api}/health", timeout=5).is_success, 180, logs)
            stack.enter_context(started(serve, root, env, logs[1]))
            found = wait_for("the deployment", lambda: (got := httpx.get(
                f"{api}/deployments/name/dogs-vs-cats/scheduled", timeout=5)).is_success and got.json(), 180, logs)
            args.out.mkdir(parents=True, exist_ok=True)
            if not args.form_only:
                blessed = _run(api, found["id"], logs)
                params = root / "params.yaml"
                params.write_text(params.read_text().replace("min_accuracy: 0.0", "min_accuracy: 1.0"))
                refused = _run(api, found["id"], logs)
                print(f"{blessed['name']}: {blessed['state']['name']}; {refused['name']}: "
                      f"{refused['state']['name']} ({refused['state']['message']})")
                shoot(f"{ui}/runs", args.out / "prefect-runs.png", tmp / "chrome", size="1400,1600")
            shoot(f"{ui}/deployments/deployment/{found['id']}/run", args.out / "prefect-run-form.png",
                  tmp / "chrome", size="1400,1400")
    print(f"wrote {args.out / 'prefect-runs.png'} and {args.out / 'prefect-run-form.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
