import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")

import pytest

# Modules whose tests start real servers, clusters, child processes or whole pipeline runs: `make test-fast` leaves
# them out (`-m "not slow"`); `make test` runs everything.
SLOW_MODULES = {
    "test_explorer_browser", "test_formats_e2e", "test_instance", "test_local_postgres", "test_isolation", "test_mlflow_status",
    "test_paper_runner", "test_pipeline_e2e", "test_real_log_shapes", "test_reconcile", "test_run_ends_mlflow", "test_spark_engine",
    "test_team_server", "test_ui_script",
}


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts real servers, processes or whole pipeline runs (left out by make test-fast)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rpartition(".")[2] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
