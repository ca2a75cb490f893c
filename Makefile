# Two commands: `make demo` installs and runs the whole pipeline; `make test` installs and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

export LATENT_HOME         ?= $(CURDIR)/.data
export DAGSTER_HOME        ?= $(LATENT_HOME)/dagster
export MLFLOW_TRACKING_URI ?= sqlite:///$(LATENT_HOME)/mlflow/mlflow.db
export MLFLOW_DISABLE_TELEMETRY := true
export DAGSTER_DISABLE_TELEMETRY := true

.PHONY: spark-cluster spark-cluster-stop install install-dev demo run plan serve status test-fast paper paper-all paper-status test ui serve-model bench bench-trainers bench-scaling bench-serving bench-spark bench-baselines lint clean

# What an install holds: the runtime for the demo and your logs (with pyspark when ENGINE=spark), the dev extras
# (pytest, Playwright, ruff, pyspark) for the tests, benchmarks and Spark cluster.
INSTALL := $(if $(filter spark,$(ENGINE)),spark,runtime)
install: $(VENV)/.installed-$(INSTALL)
install-dev: $(VENV)/.installed-dev

# Pinned install: pyproject names the packages, constraints.txt fixes every version.
EXTRAS_runtime :=
EXTRAS_spark := [spark]
EXTRAS_dev := [dev]
$(VENV)/.installed-%: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.$(EXTRAS_$*)'
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: scripts/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp scripts/dagster.yaml $@

# ENGINE=spark runs the import, sessions, splits, graphs, walks and metrics on Spark at SPARK_MASTER (default local[*]; `make spark-cluster`
# starts a standalone one at spark://127.0.0.1:7077).
ENGINE_ARGS = $(if $(ENGINE),--engine $(ENGINE)) $(if $(SPARK_MASTER),--spark-master $(SPARK_MASTER))
demo: install $(DAGSTER_HOME)/dagster.yaml
	@mkdir -p $(LATENT_HOME)/mlflow
	$(BIN)/python -m scripts.demo $(DEMO_ARGS) $(ENGINE_ARGS) $(if $(VERBOSE),--verbose)

# Your own log through the whole pipeline: make run LOG=path [FORMAT=auto] [CUTOFF=auto] [CONFIG=overrides.yaml] [VERBOSE=1]
FORMAT ?= auto
CUTOFF ?= auto
run: install $(DAGSTER_HOME)/dagster.yaml
	@test -n "$(LOG)" || { echo "usage: make run LOG=path/to/log [FORMAT=auto] [CUTOFF=auto|YYYY-MM-DD] [CONFIG=overrides.yaml]"; exit 2; }
	@mkdir -p $(LATENT_HOME)/mlflow
	$(BIN)/latent-listening run "$(LOG)" --format $(FORMAT) --cutoff $(CUTOFF) $(if $(CONFIG),--config "$(CONFIG)") $(if $(VERBOSE),--verbose) $(ENGINE_ARGS)

# Which split keeps how much of a log (no Dagster run): make plan LOG=path [FORMAT=auto]
plan: install
	@test -n "$(LOG)" || { echo "usage: make plan LOG=path/to/log [FORMAT=auto]"; exit 2; }
	$(BIN)/latent-listening plan "$(LOG)" --format $(FORMAT)

# The paper's scale (Table 1) in bounded steps of about 1.5 h: rerun until it prints that it is complete
# (exit 3 from the script means "not done yet", which is not an error here).
paper: install
	$(BIN)/python -m scripts.paper $(PAPER_ARGS) || test $$? -eq 3

# Every step back to back, unattended, until the run is complete (each step still checkpoints).
paper-all: install
	until $(BIN)/python -m scripts.paper $(PAPER_ARGS); do test $$? -eq 3 || exit 1; done

paper-status: install
	$(BIN)/python -m scripts.paper status $(PAPER_ARGS)

test: install-dev
	$(BIN)/python -m pytest --durations=15

# The unit tests (no servers, clusters or whole pipeline runs): a few minutes, for every change
test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow" --durations=10

# A Spark standalone cluster on 127.0.0.1 (master :7077, UI :8080, two workers of 1 core and 2 GB), stopped by PID.
spark-cluster: install-dev
	$(BIN)/python -m scripts.spark_cluster start --workers 2 --cores 1 --memory 2g
spark-cluster-stop: install-dev
	$(BIN)/python -m scripts.spark_cluster stop

ui: install $(DAGSTER_HOME)/dagster.yaml
	@bash scripts/ui.sh

# Settle runs whose processes are gone (FAILED in Dagster and MLflow) and list what runs the local instance holds
status: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/latent-listening status

# The team server: Dagster webserver + daemon and an MLflow server, on PostgreSQL (see scripts/serve.py and the README)
# (its own Dagster home and store, never the local ones: TEAM_DAGSTER_HOME, default $LATENT_HOME/dagster-team)
TEAM_DAGSTER_HOME ?= $(LATENT_HOME)/dagster-team
serve: install
	DAGSTER_HOME=$(TEAM_DAGSTER_HOME) $(BIN)/latent-listening serve

# The registered latent space over HTTP on 127.0.0.1 (MODEL=models:/latent-listening-mf/latest for the ALS baseline).
MODEL ?= models:/latent-listening-proposed/latest
MODEL_PORT ?= 5001
serve-model: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/mlflow models serve -m "$(MODEL)" --env-manager local -h 127.0.0.1 -p $(MODEL_PORT)

# PecanPy (numpy < 2) lives in its own environment: a benchmark peer, never a runtime dependency.
.venv-bench/.installed:
	@test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet pecanpy==2.0.9
	@touch $@

bench: install-dev .venv-bench/.installed
	$(BIN)/python benchmarks/walks.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/evaluation.py

# The whole pipeline at 1M, 4M and 16M events (hours; rerun to resume: finished sizes are read back).
# The two skip-gram trainers: speed side by side at the demo's size, 200k and 3.16M vertices (about 15 minutes here),
# then quality on the latest demo run of LATENT_HOME (run make demo first).
bench-trainers: install-dev
	$(BIN)/python benchmarks/trainers.py --repeats 2
	$(BIN)/python benchmarks/trainer_quality.py --home $(LATENT_HOME)

bench-scaling: install-dev
	$(BIN)/python benchmarks/scaling.py $(SCALING_ARGS)

# The Spark engine against the local one at 4M and 16M events (1 and 2 workers on 127.0.0.1; about 45 minutes here)
# and Spark ML Word2Vec against gensim on the latest demo run's walks.
# The model endpoint under load: 50 clients for 30 s on the latest registered latent space of LATENT_HOME (make demo first).
bench-serving: install-dev
	$(BIN)/python -m benchmarks.serving_load --home $(LATENT_HOME) --model "$(MODEL)"

bench-spark: install-dev
	$(BIN)/python benchmarks/spark.py
	$(BIN)/python benchmarks/spark_word2vec.py

# ALS tuning (the screened search against the full grid) at 4M and 16M events, and SKNN's recent sampling against
# exact SKNN at 16M; the seeded logs and their splits are the Spark benchmark's local ones (made here if missing).
BENCH_LOGS = $(LATENT_HOME)/spark-bench
bench-baselines: install-dev
	test -f $(BENCH_LOGS)/16M/local/splits/runs/bench/train.parquet || $(BIN)/python benchmarks/spark.py --configs local --base $(BENCH_LOGS)
	$(BIN)/python -m benchmarks.als_tuning $(BENCH_LOGS)/4M/local/splits/runs/bench/train.parquet $(BENCH_LOGS)/16M/local/splits/runs/bench/train.parquet --screen-iterations 5 --screen-queries 20000 5000
	$(BIN)/python -m benchmarks.sknn $(BENCH_LOGS)/16M/local/splits/runs/bench

lint: install-dev
	$(BIN)/ruff check pipeline assets resources tests scripts benchmarks

clean:
	rm -rf $(LATENT_HOME)
