"""The book's configuration end to end on the GPU machine, timed: xception_mini at 180 px for
100 epochs, batch 32, RMSprop, flip/rotation/zoom augmentation, Keras' batch-norm momentum,
on the mini zip's real photos (100/50/100 per class: the book's 2:1:2 proportions).

    python -m bench.book prepare [--root .device/book] [--epochs 100] [--backend jax]
        here (GX runs in this machine's venv): download + split + validate into ROOT/data, then
        drop data/raw, leaving what train and evaluate read, and ROOT/params.yaml
    python -m bench.book run [--root .device/book] [--tag h100]
        there: `python -m tasks.train` then `python -m tasks.evaluate`, the commands DVC runs,
        timed; the wall times and test metrics go to bench/results/<tag>-<date>.json

`bench/device.sh` runs the second half on the lent GPU machine (README, "Performance").
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.harness import REPO, describe, device_name, record, write
from tasks.core.paths import Paths

ROOT = REPO / ".device" / "book"
BOOK = {"model": "xception_mini", "image_size": 180, "batch_size": 32, "learning_rate": 1e-3,
        "augment": True, "bn_momentum": 0.99}


def prepare(root: Path, epochs: int, backend: str) -> None:
    """Validated splits of the mini zip and the book's params, in `root`."""
    from bench.data import MINI_ZIP, params_for
    from tasks import download, split, validate
    from tasks.core.params_file import parse_params

    if not MINI_ZIP.exists():
        sys.exit(f"{MINI_ZIP}: not found; the book run needs the mini zip's photos")
    shutil.rmtree(root, ignore_errors=True)
    raw = params_for(MINI_ZIP).model_dump(mode="json", by_alias=True)
    raw["train"].update(BOOK, epochs=epochs, backend=backend)
    params, paths = parse_params(raw, "bench.book"), Paths(root)
    for stage in (download, split, validate):
        stage.run(params, paths)
    shutil.rmtree(paths.raw)  # train and evaluate read data/split and data/validate only
    shutil.rmtree(paths.downloads, ignore_errors=True)
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    print(f"prepared {root}: {sum(1 for _ in paths.split.rglob('*.jpg'))} photos, "
          f"{epochs} epochs on {backend}")


def gpu_name() -> str:
    """The GPU's name from nvidia-smi, else this machine's CPU."""
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return device_name()


def stage(name: str, root: Path) -> float:
    """Run `python -m tasks.<name>` on `root` as DVC would; its wall seconds."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", f"tasks.{name}", "--params", str(root / "params.yaml"),
                           "--root", str(root)], cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"tasks.{name} failed with exit code {done.returncode}")
    return time.perf_counter() - started


def run(root: Path, tag: str) -> None:
    """Train and evaluate on `root`, timed; write the figures."""
    if not (root / "params.yaml").is_file():
        sys.exit(f"{root / 'params.yaml'}: not found; run `python -m bench.book prepare` first")
    train, paths = yaml.safe_load((root / "params.yaml").read_text())["train"], Paths(root)
    shutil.rmtree(paths.array_cache, ignore_errors=True)  # cold: decoding is part of the run
    train_s = stage("train", root)
    evaluate_s = stage("evaluate", root)
    scores = json.loads((paths.metrics / "evaluate.json").read_text())["test"]
    images = sum(1 for _ in (paths.split / "train").rglob("*.jpg"))
    label = f"book config ({train['model']} {train['image_size']}px, {train['epochs']} epochs, mini zip)"
    common = {"backend": train["backend"], "device": gpu_name(), "train_images": images}
    results = [
        record(f"{label}: train wall", train_s, "s", **common,
               target="<= 180 s" if train["epochs"] == 100 else None),
        record(f"{label}: train + evaluate wall", train_s + evaluate_s, "s", **common),
        record(f"{label}: test accuracy", scores["accuracy"], "", **common),
    ]
    for r in results:
        print(f"{r['name']:80} {r['value']:10.3f} {r['unit']}")
    print("written:", write(results, tag))


def main(argv: list[str] | None = None) -> None:
    """`prepare` here, `run` on the GPU machine."""
    parser = argparse.ArgumentParser(prog="python -m bench.book", description=describe(__doc__))
    actions = parser.add_subparsers(dest="action", required=True, metavar="{prepare,run}")
    prep = actions.add_parser("prepare", help="here: the validated photos and params.yaml in ROOT",
                              description=describe(prepare.__doc__))
    go = actions.add_parser("run", help="on the GPU machine: train and evaluate ROOT, timed",
                            description=describe(run.__doc__))
    for sub in (prep, go):
        sub.add_argument("--root", type=Path, default=ROOT, help=f"(default: {ROOT.relative_to(REPO)})")
    prep.add_argument("--epochs", type=int, default=100, help="(default: 100, the book's)")
    prep.add_argument("--backend", default="jax", choices=["jax", "tensorflow"], help="(default: jax)")
    go.add_argument("--tag", default="h100", help="results file prefix (default: h100)")
    args = parser.parse_args(argv)
    if args.action == "prepare":
        prepare(args.root, args.epochs, args.backend)
    else:
        run(args.root, args.tag)


if __name__ == "__main__":
    main()
