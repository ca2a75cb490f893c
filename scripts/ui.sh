#!/usr/bin/env bash
# Start the Dagster UI and the MLflow UI on 127.0.0.1; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
DAGSTER_PORT=${DAGSTER_PORT:-3000}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
mkdir -p "$LATENT_HOME/mlflow"

# Job control puts each server in its own process group, so a signal reaches all its workers.
set -m
"$BIN/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "$DAGSTER_PORT" &
dagster_pid=$!
"$BIN/mlflow" server --backend-store-uri "$MLFLOW_TRACKING_URI" --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 &
mlflow_pid=$!

stop() {
  trap - INT TERM EXIT
  echo "Stopping Dagster and MLflow..."
  kill -TERM -- "-$dagster_pid" "-$mlflow_pid" 2>/dev/null || true
  # dagster dev's process group can outlive SIGTERM for minutes: give both 10 s, then stop what is left
  for _ in $(seq 20); do
    kill -0 -- "-$dagster_pid" 2>/dev/null || kill -0 -- "-$mlflow_pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$dagster_pid" "-$mlflow_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT
echo "Dagster: http://127.0.0.1:$DAGSTER_PORT   MLflow: http://127.0.0.1:$MLFLOW_PORT   (Ctrl-C stops both)"
wait -n
