"""The reliability table of docs/reliability.md: each fault and bad-input class the suite tries,
how many cases, and what the pipeline does. Counts come from collecting tests/reliability (each
test carries @pytest.mark.reliability("<class>")), so the table cannot drift from the suite:
test_table.py fails when docs/reliability.md is out of step.

    python -m tests.reliability.table          # print the table
    python -m tests.reliability.table --write  # rewrite it in docs/reliability.md
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reliability.md"
HEADING = "## Faults and bad input tried"
# class: (what is tried, what the pipeline does: every case of the class asserts it)
CLASSES = {
    "kill": ("SIGKILL in the middle of each stage (`dvc repro`)",
             "the next `dvc repro` completes; `dvc status` clean; `dvc.lock` equal to an "
             "uninterrupted run's; no temp files left"),
    "write": ("a write refused mid-stage (`RLIMIT_FSIZE`, as a full disk)",
              "exit 1, `error: <stage>: cannot write <path>: File too large`, no traceback; the "
              "old output kept, or withdrawn where it could pass for new (evaluate's gate, "
              "export); the next `dvc repro` restores"),
    "download": ("a download cut off, or left partial or truncated, or refused for what it holds "
                 "(url source); a server that sends too much, drips, or answers with an HTML page",
                 "resumed or fetched again; sha256 verified; an archive refused for its content "
                 "is kept, not fetched again; past `download.max_bytes` (before, from "
                 "Content-Length, and while reading) or stalled (`download.stall_timeout`, "
                 "`download.deadline`) it stops naming the URL and the limit, and deletes what "
                 "it got; a web page is named as one"),
    "concurrent": ("two runs at once: `dvc repro` twice, `dvc repro` and the Prefect flow",
                   "a second `dvc repro` is refused by DVC's rwlock, naming the path and PID; "
                   "the flow waits (`flow.lock_wait`) and then completes, or gives up naming "
                   "the lock; afterwards `dvc status` is clean and `dvc.lock` equal"),
    "hand-edit": ("an output deleted or edited by hand",
                  "`dvc status` names the stage; `dvc repro` rebuilds it, equal"),
    "archive": ("a bad archive (zip-slip, absolute, symlink, bombs, also across nested zips, "
                "truncated, corrupt, sha256, one class, a duplicate or overlong index, a tar.gz or "
                "a photo as the archive)",
                "exit 1 naming the entry or archive and what is wrong (\"corrupt\" only when it "
                "is); nothing written outside `data/`; `data/raw` kept by `python -m tasks.download` "
                "(`dvc repro` removes it first: `dvc checkout download` brings it back)"),
    "source": ("a local source (`download.path`): an archive rebuilt in place, a folder that "
               "gains a photo, a relative path from another directory, unlabelled or non-ASCII "
               "names inside; a path inside the project's own outputs (`data`); a refused "
               "download under `dvc repro`",
               "`dvc status` names download and `dvc repro` reruns it, nothing when unchanged; "
               "read from the project root; unlabelled files counted and named, not taken; a "
               "path inside the outputs refused naming it; after a refusal `dvc checkout "
               "download` brings the last `data/raw` back"),
    "image": ("a bad image or split (decode, format, mode, size, pixel cap, leakage, counts)",
              "exit 1 naming file and rule, no accepted manifest; or quarantined with "
              "`on_failure: quarantine`"),
    "params": ("a bad params.yaml value (every key of `tasks/core/config.py`: wrong type, out of "
               "range; `~` in `download.path`), a YAML alias bomb, a duplicated key, values YAML "
               "1.1 and 1.2 read differently (`017`, `1:00`)",
               "exit 2 naming the key (the alias, the duplicate and its lines) in under a second, "
               "nothing written; values read as DVC reads them; a missing `download.path` exits "
               "1 naming it"),
    "flow-kill": ("`kill -9` of the Prefect flow (`python -m flows.pipeline`) during train",
                  "its watchdog marks the run Crashed and stops `dvc repro`, the stage and the "
                  "ephemeral API server; the next flow run finds the dead run's lock and resumes "
                  "training after its last finished epoch"),
    "a corrupted cache or resume state": (
        "a corrupted cache or resume state: one byte flipped in, or a cut-short, file under "
        "`data/cache/` (the array cache, train's resume state and its finished runs)",
        "noticed (the array cache: its size, shape and a sha256 per 64 MiB chunk, checked "
        "streaming before each use; sha256 written with each resume file), named in a warning, "
        "deleted and rebuilt: never trained, evaluated or resumed on; the stage completes with "
        "outputs equal to an uncorrupted run's"),
    "predict": ("predict: a bad `--submission` target (params.yaml, a missing folder, a folder) or "
                "a bogus `--model`; odd inputs (a FIFO, a 16-bit PNG, a 6000 px JPEG, an EXIF-rotated "
                "photo); a model trained on the synthetic sample; file names with newlines or tabs; "
                "Kaggle ids not in ASCII digits, or twice; an image size out of range",
                "exit 1 naming the target or model (a target before any work), nothing written, no "
                "traceback; odd inputs read as their plain twins (a FIFO skipped with a warning), "
                "memory bounded; a warning that the model is not fit for real photos; names escaped "
                "so one line is one file; bad ids and sizes refused naming them (exit 1 when "
                "nothing was classified)"),
    "api": ("a flow parameter set by whoever can reach the Prefect API (no login by default): "
            "`experiment` as an absolute path or with `..`, `root` naming another project, an "
            "integer past its params.yaml bound; a work-pool run's job variables (`command`, "
            "`working_dir`, `env`)",
            "refused when the run is created (the deployment's parameter schema) or before any "
            "stage, naming the parameter; no cleanup removes anything outside the project's own "
            "scratch folder; the project is fixed when served or deployed"),
    "api-down": ("the Prefect API server killed while a stage prints a lot, or while "
                 "`flows.serve` waits for runs",
                 "the stage's output is still read (a failing log call never stops it), so the "
                 "stage finishes; `flows.serve` stops within seconds of SIGINT or SIGTERM and "
                 "leaves nothing behind in the temp folder"),
    "consistency": ("params.yaml edited under a running `dvc repro` or flow (a refused `dvc exp "
                    "run -S`); two experiments given one name",
                    "the stage whose params changed, or the next one, fails saying params.yaml "
                    "changed under the run, naming the keys; no "
                    "lock or card mixes two sets of params; a second experiment of a name is "
                    "refused, naming it"),
    "make": ("Make variables with spaces, quotes, backticks or `$(...)`; a RECIPE or SEED that "
             "is not one",
             "each value reaches its command as one argument and is never run; a bad RECIPE or "
             "SEED is refused naming it, before anything runs"),
    "security": ("symlinked outputs; keras `safe_mode`, no pickle, no shell strings (AST)",
                 "not followed by the stages (DVC's run-cache checkout does: see below); "
                 "the code checks hold"),
}


def count_cases() -> dict[str, int]:
    """Cases per class, from collecting tests/reliability in a subprocess (conftest.py writes
    the counts where RELIABILITY_COUNTS says)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             str(REPO / "tests" / "reliability")], cwd=REPO, capture_output=True, text=True,
            timeout=300, env={**os.environ, "RELIABILITY_COUNTS": str(out)})
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return json.loads(out.read_text())


def render(counts: dict[str, int]) -> str:
    rows = [f"| {what} | {counts.get(key, 0)} | {result} |" for key, (what, result) in CLASSES.items()]
    return "\n".join(["| fault or bad input | cases | result |", "|---|---|---|", *rows]) + "\n"


def page_table(text: str) -> tuple[int, int]:
    """Start and end offsets of the table under HEADING in docs/reliability.md."""
    section = text.index(f"\n{HEADING}\n")
    start = text.index("\n| fault or bad input |", section) + 1
    end = start
    while end < len(text) and text.startswith("|", end):
        end = text.index("\n", end) + 1
    return start, end


def main(argv: list[str]) -> int:
    table = render(count_cases())
    if "--write" in argv:
        text = PAGE.read_text()
        start, end = page_table(text)
        PAGE.write_text(text[:start] + table + text[end:])
    print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
