#!/usr/bin/env bash
# The GPU half of the benchmarks, as one command on the lent GPU machine (README, "Performance").
# That machine has JAX, numpy and Pillow but no TensorFlow and no package index: first run
# `make device-prep` here, which puts Python 3.12 wheels, the book run's photos and the commit
# in .device/, then carry .device with the call. What it measures:
#   PART=train  bench.train on JAX: MODELS in fp32 and bf16, augmentation on and off
#   PART=book   bench.book run: the book's configuration end to end (train + evaluate)
#   PART=all    both (the default)
# Results go to bench/results/<TAG>-<date>.json and, when $OUT is set, are copied there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .device/COMMIT ] || { echo "error: .device/COMMIT: not found; run 'make device-prep' and carry .device" >&2; exit 2; }
site=${SITE:-/tmp/site}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .device/wheels/*.whl
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1 KERAS_BACKEND=jax BENCH_COMMIT="$(cat .device/COMMIT)"
TAG=${TAG:-h100}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv || true
python3 -c 'import jax; print("jax", jax.__version__, jax.devices())'
copy_out() { if [ -n "${OUT:-}" ]; then cp bench/results/"$TAG"-*.json "$OUT"/ 2>/dev/null || true; fi; }
trap copy_out EXIT
if [ "${PART:-all}" != book ]; then
  # shellcheck disable=SC2086  # MODELS is a list
  python3 -m bench.train --backends jax --models ${MODELS:-xception_mini resnet50} \
    --precisions fp32 bf16 --batch "${BATCH:-128}" --steps "${STEPS:-40}" --repeats "${REPEATS:-3}" --tag "$TAG"
fi
if [ "${PART:-all}" != train ]; then
  python3 -m bench.book run --root "${BOOK_ROOT:-.device/book}" --tag "$TAG"
fi
