"""The stage contract: every stage's name, the stages it reads and the files it writes, defined once.

A stage's materialization is one folder, ``<store>/<stage>/runs/<version>/`` (the version is the
Dagster run id), holding the files declared here. Nothing else names a stage's files: the assets,
their checks, the report, the paper runner and the benchmarks all ask a :class:`StageFiles` for
them, and a stage is handed :class:`StageFiles` only for the stages it ``reads`` (which are its
Dagster dependencies, derived from this table).

Long-lived state that outlives one materialization (skip-gram checkpoints, resumed by the next
run) sits beside the versions in ``<store>/<stage>/checkpoints/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

RUNS, CHECKPOINTS = "runs", "checkpoints"
USER, SESSION, SONG = "user", "session", "song"  # the kinds of vertex


@dataclass(frozen=True)
class Network:
    """One network the walks run on: its title, its vertex kinds in id order, and its edges as pairs of kinds."""

    title: str
    kinds: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]


# The networks, by id (graph_<id>, walks_<id>): the paper's user-session-song network and the user-song baseline.
NETWORKS: dict[str, Network] = {
    "uss": Network("user-session-song", (USER, SESSION, SONG), ((USER, SESSION), (SESSION, SONG))),
    "us": Network("user-song", (USER, SONG), ((USER, SONG),)),
}
EMBEDDING_NETWORK = {"embedding_uss": "uss", "embedding_uss_2d": "uss", "embedding_us": "us"}


def graph_stage(network: str) -> str:
    """The stage that builds ``network``'s graph."""
    return f"graph_{network}"


def walks_stage(network: str) -> str:
    """The stage that walks ``network``."""
    return f"walks_{network}"


# The embeddings that train with the settings a tuning stage chose on validation (when that tuning is enabled).
TUNED_BY = {"embedding_uss": ("skipgram_tuning",)}


@dataclass(frozen=True)
class File:
    """One file (or folder) of a stage. ``name`` may hold ``{}`` for a numbered series (walk passes);
    ``schema`` lists the columns a Parquet file has at least, with their types; a file not ``always``
    written may be absent from a complete materialization. A ``dataset`` may be one file (as the local engine writes
    it) or a folder of parts read in name order (as Spark's executors write it, each task its own part): a Parquet
    table (polars reads both; ``pipeline.io.parquet_parts`` lists the parts), the graph's adjacency (blocks of CSR
    rows, ``pipeline.network.graph.load_adjacency``) or a pass of walks (``pipeline.network.walk_reader``)."""

    name: str
    what: str
    schema: Mapping[str, pl.DataType] | None = None
    always: bool = True
    dataset: bool = False

    @property
    def series(self) -> bool:
        return "{" in self.name


@dataclass(frozen=True)
class Stage:
    name: str
    reads: tuple[str, ...]
    files: Mapping[str, File]
    assets: tuple[str, ...] = ()  # the Dagster assets it materializes (default: one, named as the stage)
    # The pipeline modules that hold its science (dotted, under pipeline/: the first holds the stage's function); the
    # modules they import are its science too, and its assets' code version is a hash of them all.
    modules: tuple[str, ...] = ()

    @property
    def science(self) -> tuple[str, ...]:
        if not self.modules:
            raise ValueError(f"stage {self.name} names no module of its science (Stage.modules)")
        return self.modules

    @property
    def asset_names(self) -> tuple[str, ...]:
        return self.assets or (self.name,)


# What each asset is made with, shown as its kinds in the Dagster UI (mlflow: it logs to the MLflow run).
KINDS: dict[str, set[str]] = {  # by asset
    "raw_events": {"polars", "parquet", "mlflow"}, "quarantine": {"parquet"},
    "sessions": {"polars", "mlflow"}, "split_plan": {"polars"}, "splits": {"polars", "mlflow"},
    "graph_uss": {"numpy"}, "graph_us": {"numpy"},
    "walks_uss": {"numba", "mlflow"}, "walks_us": {"numba", "mlflow"},
    "embedding_uss": {"gensim", "mlflow"}, "embedding_uss_2d": {"gensim", "mlflow"}, "embedding_us": {"gensim", "mlflow"},
    "validation_split": {"polars", "mlflow"}, "als_tuning": {"implicit", "mlflow"}, "skipgram_tuning": {"gensim", "mlflow"},
    "baselines": {"implicit"}, "metrics": {"numba", "numpy", "mlflow"},
    "model": {"mlflow", "pandas"},
    "behaviour": {"scikit-learn", "mlflow"}, "plots": {"matplotlib", "mlflow"}, "explorer": {"html", "networkx", "mlflow"},
}

# The stages the data engineers who run the source answer for (the log's import and its cut into sessions and
# splits); everything learned or measured from the splits is the recommender scientists'.
DATA_STAGES = ("raw_events", "sessions", "split_plan", "splits")


# The canonical listening event, whatever the log's format (importers and the generator write it).
EVENT_SCHEMA = {
    "timestamp": pl.Datetime("us", "UTC"),
    "user_id": pl.String,
    "device": pl.String,
    "song_id": pl.String,
    "artist": pl.String,
    "genre": pl.String,
    "language": pl.String,
}
QUARANTINE_SCHEMA = {"file": pl.String, "row": pl.Int64, "reason": pl.String, "raw": pl.String}
SESSIONIZED_SCHEMA = {**EVENT_SCHEMA, "session_id": pl.Int64}
# What evaluation and the analyses read of the events (the sessions' ids included).
EVENT_IDS = ["timestamp", "user_id", "device", "session_id", "song_id"]


def _stages() -> dict[str, Stage]:
    stages = [
        Stage("raw_events", (), {
            "events": File("events.parquet", "accepted events, canonical schema", EVENT_SCHEMA, dataset=True),
            "quarantine": File("quarantine.parquet", "rejected input rows with file, row and reason", QUARANTINE_SCHEMA, dataset=True),
            "summary": File("summary.json", "read / accepted / quarantined counts and the source"),
            # the planted truth of the synthetic log (absent for a real log)
            "truth_users": File("truth/users.parquet", "each synthetic user's planted kind and dependence", always=False),
            "truth_songs": File("truth/songs.parquet", "each synthetic song's tags and title", always=False),
            "truth_config": File("truth/config.json", "the generator's settings", always=False),
        }, assets=("raw_events", "quarantine"), modules=("ingest.raw_events", "ingest.synthetic")),
        Stage("sessions", ("raw_events",), {
            "events": File("events.parquet", "events with session_id, sorted by user and time", SESSIONIZED_SCHEMA, dataset=True),
            "sessions": File("sessions.parquet", "one row a session", {"session_id": pl.Int64, "user_id": pl.String,
                                                                        "n_songs": pl.UInt32}, dataset=True),
        }, modules=("sessions.sessions",)),
        Stage("split_plan", ("sessions",), {
            "plan": File("plan.parquet", "users, sessions and events each candidate split keeps",
                         {"cutoff": pl.String, "train_sessions": pl.Int64, "test_sessions": pl.Int64, "users": pl.Int64}),
            "recommendation": File("recommendation.json", "the planner's choice and the rule that made it"),
        }, modules=("sessions.split_plan",)),
        Stage("splits", ("sessions", "split_plan"), {
            "train": File("train.parquet", "train events", SESSIONIZED_SCHEMA, dataset=True),
            "test": File("test.parquet", "test events (no cold-start songs)", SESSIONIZED_SCHEMA, dataset=True),
            "table1": File("table1.parquet", "the paper's Table 1", {"set": pl.String, "events": pl.Int64}),
            "counts": File("counts.json", "what the split dropped, and why"),
            "chosen": File("chosen.json", "the run's plan: the cutoff and session counts the split used (the planner's, for cutoff: auto), the validation sessions and what each later stage gets"),
        }, modules=("sessions.splits", "sessions.split_plan")),
        *[Stage(graph_stage(n), ("splits",), {
            "adjacency": File("adjacency.npz", "CSR indptr and indices", dataset=True),
            "vertices": File("vertices.parquet", "vertex, kind, key", {"vertex": pl.Int64, "kind": pl.String, "key": pl.String},
                             dataset=True),
        }, modules=("network.graph",)) for n in NETWORKS],
        *[Stage(walks_stage(n), (graph_stage(n),), {
            "shard": File("pass-{:03d}.txt", "one pass of walks, one walk a line", dataset=True),
            "index": File("shards.json", "the shards and their token counts"),
            "vertex_counts": File("vertex_counts.npy", "occurrences of each vertex (the skip-gram vocabulary)"),
            "stats": File("stats.json", "walks, tokens, seconds, config and seed"),
        }, modules=("network.walks",)) for n in NETWORKS],
        *[Stage(name, (walks_stage(n), *TUNED_BY.get(name, ())), {
            "vectors": File("vectors.npy", "one vector a vertex, in vertex order"),
            "params": File("params.json", "the skip-gram's settings and training times"),
        }, modules=("embedding.embedding",)) for name, n in EMBEDDING_NETWORK.items()],
        Stage("validation_split", ("splits",), {
            "fit": File("fit.parquet", "train less validation", SESSIONIZED_SCHEMA),
            "validation": File("validation.parquet", "each user's last train sessions", SESSIONIZED_SCHEMA),
        }, modules=("sessions.splits",)),
        Stage("als_tuning", ("validation_split",), {
            "grid": File("grid.csv", "every grid point's validation score, best first"),
            "best": File("best.json", "the chosen ALS settings"),
            "validation": File("validation.json", "validation scores of the chosen point and of popularity, and the data's digest"),
        }, modules=("evaluation.tuning",)),
        Stage("skipgram_tuning", ("validation_split",), {
            "grid": File("grid.csv", "every grid point's validation score, best first (when enabled)", always=False),
            "result": File("result.json", "best point and the paper's point"),
            "corpus": File("validation_corpus.txt", "walks on the fit part's network (removed after tuning)", always=False),
        }, modules=("evaluation.tuning",)),
        Stage("baselines", ("splits", "als_tuning"), {
            "popularity": File("popularity.npy", "train play count of each catalogue song"),
            "user_factors": File("als_user_factors.npy", "ALS user factors, catalogue order"),
            "item_factors": File("als_item_factors.npy", "ALS song factors, catalogue order"),
            "params": File("params.json", "the ALS settings refit"),
        }, modules=("evaluation.baselines",)),
        Stage("metrics", ("splits", "graph_uss", "graph_us", "embedding_uss", "embedding_us", "baselines", "behaviour"), {
            "metrics": File("metrics.parquet", "every measure at every k, with intervals",
                            {"experiment": pl.String, "method": pl.String, "k": pl.Int64, "recall": pl.Float64}),
            "metrics_csv": File("metrics.csv", "the same as CSV"),
            "verdicts": File("verdicts.parquet", "the paper's orderings judged", {"ordering": pl.String, "verdict": pl.String}),
            "notes": File("notes.json", "query counts and each retrieval's seconds"),
            "strata": File("strata.parquet", "recall@k of every method by stratum (pipeline.evaluation.strata)",
                           {"stratum_kind": pl.String, "stratum": pl.String, "k": pl.Int64, "recall": pl.Float64}),
        }, modules=("evaluation.metrics",)),
        Stage("model", ("raw_events", "splits", "graph_uss", "embedding_uss", "baselines", "als_tuning", "skipgram_tuning"), {
            "proposed": File("proposed", "the user-session-song space as a servable model (pipeline.serving.pyfunc.write_space)"),
            "mf": File("mf", "the ALS baseline's space as a servable model"),
            "versions": File("versions.json", "the MLflow model versions registered from these"),
        }, modules=("serving.model",)),
        Stage("behaviour", ("raw_events", "splits", "graph_uss", "embedding_uss"), {
            "users": File("users.parquet", "every measured user's behaviour", {"user_id": pl.String, "preference": pl.String}),
            "summary": File("summary.json", "shares, and agreement with the planted truth"),
        }, modules=("analysis.behaviour",)),
        Stage("plots", ("raw_events", "splits", "graph_uss", "embedding_uss_2d", "metrics", "behaviour"), {
            "figure": File("{}.png", "one figure of the paper"),
        }, modules=("analysis.plots",)),
        Stage("explorer", ("raw_events", "splits", "graph_uss", "embedding_uss_2d"), {
            "html": File("explorer.html", "the interactive explorer, one offline page"),
            "egonets": File("ego_networks.graphml", "the first explorer users' ego networks, for Gephi or networkx"),
        }, modules=("analysis.explorer",)),
    ]
    return {s.name: s for s in stages}


STAGES: dict[str, Stage] = _stages()
STAGE_OF_ASSET: dict[str, str] = {a: s.name for s in STAGES.values() for a in s.asset_names}


def upstream_assets(stage: str) -> list[str]:
    """The Dagster assets ``stage`` depends on: the first asset of every stage it reads."""
    return [STAGES[r].asset_names[0] for r in STAGES[stage].reads]


class StageFiles(Mapping[str, Path]):
    """One materialization of a stage: its folder, and the path of each declared file in it."""

    def __init__(self, stage: str | Stage, folder: Path | str) -> None:
        self.stage = STAGES[stage] if isinstance(stage, str) else stage
        self.folder = Path(folder)

    def __getitem__(self, key: str) -> Path:
        file = self._file(key)
        if file.series:
            raise KeyError(f"{self.stage.name}.{key} is a series of files: use .series({key!r}, i)")
        return self.folder / file.name

    def series(self, key: str, i: int | str) -> Path:
        file = self._file(key)
        if not file.series:
            raise KeyError(f"{self.stage.name}.{key} is one file: use [{key!r}]")
        return self.folder / file.name.format(i)

    def _file(self, key: str) -> File:
        try:
            return self.stage.files[key]
        except KeyError:
            raise KeyError(f"stage {self.stage.name!r} declares no file {key!r} (it declares {', '.join(self.stage.files)})") from None

    def __iter__(self) -> Iterator[str]:
        return (k for k, f in self.stage.files.items() if not f.series)

    def __len__(self) -> int:
        return sum(not f.series for f in self.stage.files.values())

    def __repr__(self) -> str:
        return f"StageFiles({self.stage.name!r}, {str(self.folder)!r})"


@dataclass(frozen=True)
class Store:
    """The data folder: every stage's materializations, one folder each, and their checkpoints."""

    root: Path
    stages: Mapping[str, Stage] = field(default_factory=lambda: STAGES)

    def runs(self, stage: str) -> Path:
        return Path(self.root) / self.stages[stage].name / RUNS

    def version(self, stage: str, version: str) -> StageFiles:
        return StageFiles(self.stages[stage], self.runs(stage) / version)

    def checkpoints(self, stage: str) -> Path:
        return Path(self.root) / self.stages[stage].name / CHECKPOINTS


# The one stage signature: stage(upstream, out, log=None, **params) -> counts (a JSON-able dict). A stage reads the
# files of the stages it reads (``upstream``, by stage name) and writes its own declared files (``out``); ``log``
# takes its progress lines; the counts become its asset's metadata.
Log = Callable[[str], None] | None
Upstream = Mapping[str, StageFiles]
