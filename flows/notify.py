"""Tell someone when a run of the pipeline fails, crashes or ends with a model the gate refused:
`python -m flows.notify --webhook URL | --slack URL | --block TYPE/NAME` (any of them, together).

Creates (or updates: everything goes by name, so running it again changes, never duplicates) a
Prefect notification block per destination and one automation, "dogs-vs-cats: failed, crashed or
refused", on the server that PREFECT_API_URL names. Its trigger matches the events
`prefect.flow-run.Failed`, `.Crashed` and `.Refused` (the Completed state the flow names
"Refused", flows/pipeline.py `decided`) of any run of the flow "dogs-vs-cats", served, deployed
or run by hand; its action sends one notification per run naming the run (name, id, UI link)
and the reason: the state's message (the failing stage's error, or "the gate refused the model:
<reasons>"). The server's triggers and actions services do the work (both on by default in
`prefect server start`).

- `--webhook URL`: a Custom Webhook block that POSTs JSON {"subject", "body", "text"} to URL
  (`text` is subject and body together, what Slack, Mattermost or Rocket.Chat hooks read).
- `--slack URL`: a Slack Webhook block (https://hooks.slack.com/services/...).
- `--block TYPE/NAME`: a notification block already saved on the server, e.g. e-mail through a
  Sendgrid Email block (`sendgrid-email/ops`) or a Microsoft Teams one (`ms-teams-webhook/ml`).
Each run sets the automation's destinations to those it is given (a block it saved before stays
saved, unused). Both URLs are kept in the blocks as secrets (the UI and API show them masked),
never printed; a bad one is refused (exit 2) before anything is saved.
"""
from __future__ import annotations

import argparse
import re
from urllib.parse import urlsplit

FLOW = "dogs-vs-cats"
AUTOMATION = f"{FLOW}: failed, crashed or refused"
BLOCK = f"{FLOW}-notify"  # the name of the blocks --webhook and --slack save
EVENTS = {f"prefect.flow-run.{state}" for state in ("Failed", "Crashed", "Refused")}
SLACK = re.compile(r"https://hooks\.slack(-gov)?\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+/?")
SUBJECT = "{{ flow.name }}: flow run {{ flow_run.name }} {{ flow_run.state.name }}"
BODY = """\
Flow run {{ flow_run.name }} of {{ flow.name }}{% if deployment %}/{{ deployment.name }}{% endif %} \
ended {{ flow_run.state.name }} ({{ flow_run.state.type.value }}).
Reason: {{ flow_run.state.message }}
Flow run ID: {{ flow_run.id }}
Flow run URL: {{ flow_run|ui_url }}"""


def check_url(option: str, url: str) -> str:
    """`url` if it is an http(s) URL with a host (a Slack webhook's for --slack); never echoed."""
    parts = urlsplit(url)
    if option == "--slack" and not SLACK.fullmatch(url):
        raise ValueError("--slack: expected a Slack incoming webhook, "
                         "https://hooks.slack.com/services/T.../B.../...")
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise ValueError(f"{option}: expected an http:// or https:// URL with a host")
    return url


def check_block(spec: str) -> tuple[str, str]:
    slug, sep, name = spec.partition("/")
    if not sep or not slug or not name:
        raise ValueError(f"--block {spec!r}: expected TYPE/NAME, e.g. sendgrid-email/ops")
    return slug, name


def save_blocks(webhook: str | None, slack: str | None, blocks: list[tuple[str, str]]) -> dict[str, object]:
    """The id of each notification block to send to, by TYPE/NAME: each --block must exist and be
    able to notify; then --webhook's and --slack's are saved (overwritten)."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, SlackWebhook
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    ids: dict[str, object] = {}
    with get_client(sync_client=True) as client:  # the saved blocks first: a bad one saves nothing
        for slug, name in blocks:
            try:
                doc = client.read_block_document_by_name(name, slug, include_secrets=False)
            except ObjectNotFound:
                raise ValueError(f"--block {slug}/{name}: no such block on the server") from None
            if "notify" not in (doc.block_schema.capabilities if doc.block_schema else []):
                raise ValueError(f"--block {slug}/{name}: not a notification block")
            ids[f"{slug}/{name}"] = doc.id
    if webhook:  # the URL as a secret the block fills in when it sends: masked like the Slack URL
        ids[f"custom-webhook/{BLOCK}"] = CustomWebhookNotificationBlock(
            name=BLOCK, url="{{url}}", secrets={"url": webhook},
            json_data={"subject": "{{subject}}", "body": "{{body}}", "text": "{{subject}}\n{{body}}"},
        ).save(BLOCK, overwrite=True)
    if slack:
        ids[f"slack-webhook/{BLOCK}"] = SlackWebhook(url=slack).save(BLOCK, overwrite=True)
    return ids


def ensure_automation(block_ids: list) -> str:
    """Create AUTOMATION, or update it in place (and drop any duplicate of its name)."""
    from prefect.automations import AutomationCore, EventTrigger, SendNotification
    from prefect.client.orchestration import get_client

    automation = AutomationCore(
        name=AUTOMATION, enabled=True,
        description=f"Notifies when a run of the flow {FLOW!r} fails, crashes or ends Refused "
                    "(the gate refused its model). Made by `python -m flows.notify`.",
        trigger=EventTrigger(
            expect=EVENTS, match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOW},
            for_each={"prefect.resource.id"}, posture="Reactive", threshold=1),
        actions=[SendNotification(block_document_id=i, subject=SUBJECT, body=BODY) for i in block_ids])
    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(AUTOMATION)
        for extra in found[1:]:
            client.delete_automation(extra.id)
        if found:
            client.update_automation(found[0].id, automation)
            return f"updated automation {AUTOMATION!r} ({found[0].id})"
        return f"created automation {AUTOMATION!r} ({client.create_automation(automation)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flows.notify", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n", 1)[1],
        epilog="Point PREFECT_API_URL at the server first (make ui: http://127.0.0.1:4200/api).")
    parser.add_argument("--webhook", metavar="URL", help="POST each notification as JSON to URL")
    parser.add_argument("--slack", metavar="URL", help="a Slack incoming webhook URL")
    parser.add_argument("--block", metavar="TYPE/NAME", action="append", default=[],
                        help="a saved notification block, e.g. sendgrid-email/ops for e-mail (repeatable)")
    args = parser.parse_args(argv)
    try:
        webhook = args.webhook and check_url("--webhook", args.webhook)
        slack = args.slack and check_url("--slack", args.slack)
        blocks = [check_block(spec) for spec in args.block]
        if not (webhook or slack or blocks):
            raise ValueError("give at least one of --webhook, --slack, --block")
        ids = save_blocks(webhook, slack, blocks)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    print(f"notification blocks: {', '.join(ids)}")
    print(ensure_automation(list(ids.values())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
