#!/usr/bin/env bash
# Builds the image, runs the quickstart in it against a store mounted at the same path inside and outside (MLflow
# records absolute artifact paths), then checks from the host that the run FINISHED and its artifacts are readable.
#   scripts/container-smoke.sh                                   # docker
#   CONTAINER=podman BUILD_FLAGS="..." RUN_FLAGS="..." scripts/container-smoke.sh
# Environment: CONTAINER (docker or podman), IMAGE (default hardness:smoke), BUILD_FLAGS and RUN_FLAGS (extra flags,
# split into words), TORCH_INDEX_URL (passed as the build argument when set; empty: pip's own index), PYTHON (a host
# Python with mlflow, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
container=${CONTAINER:-docker}
image=${IMAGE:-hardness:smoke}
python=${PYTHON:-python3}
build_args=()
if [ -n "${TORCH_INDEX_URL+set}" ]; then build_args+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL"); fi
store=$(mktemp -d "${TMPDIR:-/tmp}/hardness-smoke-XXXXXX")
trap 'rm -rf "$store"' EXIT

start=$(date +%s)
# shellcheck disable=SC2086  # the extra flags are meant to be split into words
$container build ${BUILD_FLAGS:-} "${build_args[@]}" -t "$image" .
built=$(date +%s)
size=$($container image inspect --format '{{.Size}}' "$image")
echo "built $image in $((built - start)) s, $((size / 1024 / 1024)) MiB"

# shellcheck disable=SC2086
$container run --rm ${RUN_FLAGS:-} --network none --user "$(id -u):$(id -g)" -v "$store:$store" "$image" \
    run configs/quickstart.yaml --tracking-uri "sqlite:///$store/mlflow.db" --json > "$store/summary.json"
echo "quickstart ran in the container in $(($(date +%s) - built)) s"

"$python" - "$store" <<'PY'
import json
import sys

from mlflow import MlflowClient

store = sys.argv[1]
run_id = json.load(open(f"{store}/summary.json"))["parent_run_id"]
client = MlflowClient(f"sqlite:///{store}/mlflow.db")
run = client.get_run(run_id)
assert run.info.status == "FINISHED", f"run {run_id} is {run.info.status}"
config = client.download_artifacts(run_id, "config.yaml", store)  # an absolute artifact path, valid on the host too
assert "quickstart" in open(config).read()
print(f"run {run_id} FINISHED; its artifacts ({run.info.artifact_uri}) read from the host")
PY
