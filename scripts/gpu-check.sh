#!/usr/bin/env bash
# The GPU check: CUDA against CPU (tests/test_gpu.py, marker gpu), the engine's speed on all 70k MNIST, 100 seeds x
# 500 epochs, and the module backend's against a per-seed loop (benchmarks/module_speed.py), nothing tracked. Sized
# for the `device` tool: one command under 10 minutes, the working tree plus what is carried under 64 MiB, no network
# on the GPU machine (its python3 has torch, numpy, pandas, scikit-learn, rich, pytest; the wheels below bring the rest
# that these need).
#
#   scripts/gpu-check.sh prepare [DATA_ROOT]   here: shared-check/ (git-ignored, about 14 MiB) holding mnist.npz,
#                                              made from DATA_ROOT/MNIST/raw (default ../shared/data), and the wheels
#   scripts/gpu-check.sh run                   there, in the repository root, shared-check carried along; the logs
#                                              go to $OUT (the device tool brings them back), else shared-check/out
#
# PYTHON picks the interpreter of `prepare` (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK=shared-check
WHEELS=(pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
        typing-extensions==4.16.0 cleanlab==2.9.0 termcolor==3.3.0)

prepare() {
    local python=${PYTHON:-python3}
    "$python" scripts/mnist_npz.py --data-root "${1:-../shared/data}" --out "$CHECK/mnist.npz"
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$CHECK/wheels" "${WHEELS[@]}"
    du -sh "$CHECK"
}

run() {
    local out=${OUT:-$CHECK/out} status=0 started
    mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        "$CHECK"/wheels/*.whl
    export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
    nvidia-smi -L || true
    python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))'
    timeout 180 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py 2>&1 | tee "$out/gpu-tests.log" \
        || status=1
    started=$(date +%s)
    timeout 300 python3 -m benchmarks.engine_speed --device cuda --data-root "$CHECK/mnist.npz" --seeds 100 \
        --subset-size 70000 --epochs 500 2>&1 | tee "$out/engine-speed.log" || status=1
    echo "engine_speed: $(($(date +%s) - started)) s in all (data, peak, the 500-epoch fit, loops and bf16 runs)"
    # train.chunk_size suits CPU caches; a GPU may want far larger chunks: 50 epochs with 16384 to compare
    timeout 90 python3 -m benchmarks.engine_speed --device cuda --data-root "$CHECK/mnist.npz" --seeds 100 \
        --subset-size 70000 --epochs 50 --chunk-size 16384 --no-bf16 --loop-seeds 1 --loop-epochs 2 2>&1 \
        | tee "$out/engine-speed-chunk16384.log" || status=1
    # the module backend (K copies of a CNN, a ResNet-20) against a per-seed loop of the same nn.Module
    timeout 150 python3 -m benchmarks.module_speed --device cuda 2>&1 | tee "$out/module-speed.log" || status=1
    return $status
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    run) run ;;
    *) echo "usage: scripts/gpu-check.sh prepare [DATA_ROOT] | run" >&2; exit 2 ;;
esac
