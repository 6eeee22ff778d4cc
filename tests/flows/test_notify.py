"""flows.notify against a real `prefect server start` and a webhook receiver on 127.0.0.1: a
failing run and a refused run of the flow each produce one webhook call naming the run and why.

Every process runs in its own session and is stopped after; every wait has a deadline.
"""
from __future__ import annotations

import http.server
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flows.notify import AUTOMATION, BLOCK

from ..conftest import REPO, local_server
from ..helpers.prefect_server import prefect_server, started, wait_for
from ..helpers.projects import api_filter, new_project

# Stand-ins, cheaper than the pipeline: a run of the flow's name that crashes (an interrupt ends a
# Prefect run Crashed), and a failing run of another flow, which must not notify.
CRASH = "from prefect import flow\n@flow(name='dogs-vs-cats')\ndef f():\n    raise KeyboardInterrupt\nf()"
OTHER = "from prefect import flow\n@flow(name='other')\ndef f():\n    raise ValueError('not ours')\nf()"
SLACK_SECRET = "https://hooks.slack.com/services/T000/B000/s3cr3tT0ken"


def notify(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m flows.notify <args>` in this checkout, as `make notify` runs it."""
    return subprocess.run([sys.executable, "-m", "flows.notify", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)


def test_help_says_what_it_does_and_bad_destinations_are_refused_unechoed():
    shown = notify("--help")
    assert shown.returncode == 0
    text = " ".join(shown.stdout.split())
    for part in ("prefect.flow-run.Failed", ".Crashed", ".Refused", "--slack", "--webhook",
                 "sendgrid-email", "PREFECT_API_URL"):
        assert part in text
    for args, said in ((["--webhook", "ftp://host/x"], "--webhook: expected an http"),
                       (["--webhook", "not a url"], "--webhook: expected an http"),
                       (["--slack", SLACK_SECRET.replace("hooks.slack.com", "evil.example")],
                        "--slack: expected a Slack incoming webhook"),
                       (["--block", "sendgrid-email"], "expected TYPE/NAME"),
                       ([], "give at least one of")):
        done = notify(*args)
        assert done.returncode == 2 and said in done.stderr, done.stderr
        assert "s3cr3t" not in done.stdout + done.stderr


def receiver(calls: list[dict]) -> type[http.server.BaseHTTPRequestHandler]:
    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append({"path": self.path, **json.loads(body)})
            self.send_response(204)
            self.end_headers()
    return Hook


@pytest.mark.slow
def test_a_failing_a_refused_and_a_crashed_run_each_send_one_webhook_call(tmp_path: Path):
    calls: list[dict] = []
    refused = new_project(tmp_path / "refused", evaluate={"min_accuracy": 1.0})
    failing = new_project(tmp_path / "failing", validate={"min_side": 100000})
    with local_server(receiver(calls)) as base, prefect_server(tmp_path) as server:
        api, logs = server.api, [server.log]
        # Four times, with --webhook, --slack, --webhook, --block: one automation, updated in place
        # each time. The first points at nothing: were an update lost, no call would reach the
        # receiver. A --block that does not exist changes nothing (not even the webhook block).
        first = notify("--webhook", "http://127.0.0.1:9/nowhere", env=server.env)
        slack = notify("--slack", SLACK_SECRET, env=server.env)
        last = notify("--webhook", f"{base}/hook", env=server.env)
        for done in (first, slack, last):
            assert done.returncode == 0, done.stdout + done.stderr
            assert "s3cr3t" not in done.stdout + done.stderr and base not in done.stdout + done.stderr
        assert "created automation" in first.stdout and "updated automation" in last.stdout
        missing = notify("--webhook", "http://127.0.0.1:9/x", "--block", "sendgrid-email/none",
                         env=server.env)
        assert missing.returncode == 2 and "sendgrid-email/none: no such block" in missing.stderr
        again = notify("--block", f"custom-webhook/{BLOCK}", env=server.env)  # the block `last` saved
        assert again.returncode == 0 and "updated automation" in again.stdout, again.stderr
        automations = [a for a in httpx.post(f"{api}/automations/filter", json={}, timeout=30).json()
                       if a["name"] == AUTOMATION]
        assert len(automations) == 1 and len(automations[0]["actions"]) == 1
        trigger = automations[0]["trigger"]
        assert set(trigger["expect"]) == {f"prefect.flow-run.{s}" for s in ("Failed", "Crashed",
                                                                          "Refused")}
        docs = httpx.post(f"{api}/block_documents/filter", json={}, timeout=30).json()  # secrets masked
        webhook = next(d for d in docs if d["name"] == BLOCK and d["block_type"]["slug"] == "custom-webhook")
        slack_doc = next(d for d in docs if d["name"] == BLOCK and d["block_type"]["slug"] == "slack-webhook")
        assert base not in json.dumps(webhook) and "s3cr3t" not in json.dumps(slack_doc)

        runs = {}
        for name, root in (("refused", refused), ("failing", failing)):
            runs[name] = started([sys.executable, "-m", "flows.pipeline", "--root", str(root)],
                                 root, server.env, tmp_path / f"{name}.log")
            logs.append(tmp_path / f"{name}.log")
        with runs["refused"] as refused_proc, runs["failing"] as failing_proc:
            for script in (CRASH, OTHER):
                subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=server.env,
                               capture_output=True, timeout=180)
            assert refused_proc.wait(900) == 0, (tmp_path / "refused.log").read_text()[-3000:]
            assert failing_proc.wait(900) == 1, (tmp_path / "failing.log").read_text()[-3000:]
        ours = {"flows": {"name": {"any_": ["dogs-vs-cats"]}}}
        flow_runs = {r["state"]["name"]: r for r in api_filter("flow_runs", ours, api)}
        assert set(flow_runs) == {"Refused", "Failed", "Crashed"}
        assert [r["state"]["name"] for r in api_filter("flow_runs", {}, api) if r["id"] not in
                {r["id"] for r in flow_runs.values()}] == ["Failed"]  # the other flow's run
        wait_for("three webhook calls", lambda: len(calls) >= 3, 180, logs)
        time.sleep(20)  # a second call for any run, or one for the other flow, would come within this
    assert len(calls) == 3, calls
    for state, reason in (("Refused", "the gate refused the model: test accuracy"),
                          ("Failed", "stage 'validate' failed"),
                          ("Crashed", "interrupt")):
        run = flow_runs[state]
        mine = [c for c in calls if run["name"] in c["subject"]]
        assert len(mine) == 1, calls
        call = mine[0]
        assert call["path"] == "/hook" and state in call["subject"]
        assert run["name"] in call["body"] and run["id"] in call["body"]
        assert run["state"]["message"] in call["body"] and reason in call["body"]
        assert call["text"] == f"{call['subject']}\n{call['body']}"
        print(json.dumps(call, indent=1))  # the evidence, with -s
