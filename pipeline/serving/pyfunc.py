"""A latent space as a model one can serve: similar songs for a song, songs for a user (optionally on a
device), as an MLflow pyfunc model.

The model is a folder (``write_space``): the songs' vectors and tags in catalogue order, the users'
vectors, and, for a session-aware space, the vector of each user's latest training session on each
device -- the query of Experiment 2's ``proposed-device``. ``LatentSpaceModel.predict`` takes a
frame of queries, one a row, with ``song_id`` (similar songs) or ``user_id`` (recommendations, on
``device`` when given) and an optional ``k``; it answers with the top k songs of each query, nearest
first, and says how it queried.

A request is bounded before any work (``MAX_ROWS`` queries, ``MAX_ANSWERS`` songs in all) and refused whole when it
is not. A row that cannot be answered (an id the model does not know, both ids or neither, a k that is not a whole
number) is answered by one row with rank 0 and its ``error``, the other rows as usual; a request none of whose rows
can be answered is refused with the first row's message. Served, the work stops when the server's own timeout
(``MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT``) has passed, since the server has answered 504 by then.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema

from pipeline.evaluation.methods import Space
from pipeline.evaluation.nearest import nearest
from pipeline.io import read_json, save_npy, write_json

DEFAULT_K, MAX_K = 10, 500
# One request's bounds, checked before any work: queries, and songs answered in all (the sum of the rows' k).
MAX_ROWS, MAX_ANSWERS = 1_000, 100_000
CHUNK = 64  # queries answered between two looks at the clock
SONG_TAGS = ("title", "artist", "genre", "language")
FILES = {"meta": "space.json", "songs": "songs.parquet", "song_vectors": "song_vectors.npy", "users": "users.parquet",
         "user_vectors": "user_vectors.npy", "sessions": "sessions.parquet", "session_vectors": "session_vectors.npy"}


def write_space(folder: Path, space: Space, songs: pl.DataFrame, latest: pl.DataFrame | None = None) -> Path:
    """Write ``space`` as a model folder. ``songs``: song_id and tags, in the space's catalogue order;
    ``latest``: user_id, device, session_id of each user's latest train session per device (session-aware spaces)."""
    folder.mkdir(parents=True, exist_ok=True)
    tags = songs.select("song_id", *[pl.col(t).cast(pl.String) if t in songs.columns else pl.lit(None, pl.String).alias(t)
                                     for t in SONG_TAGS])
    tags.write_parquet(folder / FILES["songs"])
    save_npy(folder / FILES["song_vectors"], np.asarray(space.songs, np.float32))
    users = sorted(space.users)
    pl.DataFrame({"user_id": users}).write_parquet(folder / FILES["users"])
    save_npy(folder / FILES["user_vectors"], np.stack([space.users[u] for u in users]).astype(np.float32))
    session_aware = space.session_aware and latest is not None
    if session_aware:
        latest = latest.with_columns(pl.col("session_id").cast(pl.String), pl.col("device").fill_null("")).sort("user_id", "device")
        latest.write_parquet(folder / FILES["sessions"])
        save_npy(folder / FILES["session_vectors"], np.stack([space.sessions[s] for s in latest["session_id"]]).astype(np.float32))
    write_json(folder / FILES["meta"], {"name": space.name, "metric": space.metric, "session_aware": session_aware,
                                        "songs": len(tags), "users": len(users), "dimensions": int(space.songs.shape[1])})
    return folder


def input_schema() -> Schema:
    return Schema([ColSpec("string", "song_id", required=False), ColSpec("string", "user_id", required=False),
                   ColSpec("string", "device", required=False),
                   ColSpec(AnyType(), "k", required=False)])  # any: MLflow would cast 2.5 or "5" to a long; k_of refuses them


def output_schema() -> Schema:
    return Schema([ColSpec("long", "query"), ColSpec("long", "rank"), ColSpec("string", "song_id", required=False),
                   *[ColSpec("string", t, required=False) for t in SONG_TAGS], ColSpec("string", "by", required=False),
                   ColSpec("string", "error", required=False)])


def signature() -> ModelSignature:
    return ModelSignature(inputs=input_schema(), outputs=output_schema())


def k_of(i: int, k) -> int:
    """Row ``i``'s k: absent (None, or NaN where other rows gave one) is the default; a whole number from 1 to MAX_K
    is taken (5 or 5.0: a JSON number, whichever way pandas holds it); anything else (2.5, "5", true) is refused."""
    if k is None or (isinstance(k, float | np.floating) and np.isnan(k)):
        return DEFAULT_K
    whole = isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_) or (
        isinstance(k, float | np.floating) and float(k).is_integer())
    if not whole or not 1 <= int(k) <= MAX_K:
        raise _refuse(f"row {i}: k must be a whole number from 1 to {MAX_K}, or absent for {DEFAULT_K}; not {k!r}"
                      + (f" (a {type(k).__name__})" if not isinstance(k, int | float | np.number) or isinstance(k, bool) else ""))
    return int(k)


def _refuse(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _text(i: int, row: dict, column: str) -> str | None:
    """Row ``i``'s id in ``column``: absent (missing, None, NaN beside other rows' ids, or empty) is None; text is
    taken; anything else (a number: ids are text, "42") is refused."""
    value = row.get(column)
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if not isinstance(value, str):
        raise _refuse(f"row {i}: {column} must be text (ids are strings, \"{value}\"), not {value!r} (a {type(value).__name__})")
    return value


def serving_deadline(start: float) -> float | None:
    """When a served request's work should stop (the scoring server's timeout after ``start``), or None outside a
    scoring server (a batch ``predict`` takes the time it takes)."""
    if os.environ.get("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "").lower() != "true":
        return None
    from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT

    return start + float(MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.get())


class LatentSpaceModel(PythonModel):
    """The served space (artifact ``space``: a ``write_space`` folder)."""

    def load_context(self, context) -> None:
        self.load(Path(context.artifacts["space"]))

    def load(self, folder: Path) -> LatentSpaceModel:
        meta = read_json(folder / FILES["meta"])
        self.name, self.metric, self.session_aware = meta["name"], meta["metric"], meta["session_aware"]
        self.songs = pl.read_parquet(folder / FILES["songs"])
        self.song_vectors = np.load(folder / FILES["song_vectors"])
        self.song_row = {s: i for i, s in enumerate(self.songs["song_id"].to_list())}
        self.user_vectors = np.load(folder / FILES["user_vectors"])
        self.user_row = {u: i for i, u in enumerate(pl.read_parquet(folder / FILES["users"])["user_id"].to_list())}
        self.session_row: dict[tuple[str, str], int] = {}
        if self.session_aware:
            latest = pl.read_parquet(folder / FILES["sessions"])
            self.session_row = {(u, d): i for i, (u, d) in enumerate(latest.select("user_id", "device").iter_rows())}
            self.session_vectors = np.load(folder / FILES["session_vectors"])
        return self

    def _query(self, i: int, row: dict) -> tuple[np.ndarray, int, str]:
        """(query vector, catalogue row to exclude or -1, how the query was made) for one input row."""
        song, user, device = (_text(i, row, c) for c in ("song_id", "user_id", "device"))
        if (song is None) == (user is None):
            raise _refuse(f"row {i}: give either song_id (similar songs) or user_id (recommendations), not {'both' if song else 'neither'}")
        if song is not None:
            if song not in self.song_row:
                raise _refuse(f"row {i}: unknown song_id {song!r} (the model knows the {len(self.song_row):,} songs of its train set)")
            return self.song_vectors[self.song_row[song]], self.song_row[song], "song"
        if user not in self.user_row:
            raise _refuse(f"row {i}: unknown user_id {user!r} (the model knows the {len(self.user_row):,} users of its train set)")
        if device is not None and self.session_aware and (user, device) in self.session_row:
            return self.session_vectors[self.session_row[(user, device)]], -1, f"latest session on {device}"
        if device is not None:
            reason = "no train session on it" if self.session_aware else "this space has no sessions"
            return self.user_vectors[self.user_row[user]], -1, f"user ({reason}: {device})"
        return self.user_vectors[self.user_row[user]], -1, "user"

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        start = time.monotonic()
        rows = model_input.to_dict("records")
        if not rows:
            raise _refuse("no queries: send one row a query, with song_id or user_id")
        if len(rows) > MAX_ROWS:
            raise _refuse(f"{len(rows):,} queries in one request; at most {MAX_ROWS:,}: send them in several")
        asked, errors = {}, {}
        for i, row in enumerate(rows):
            try:
                asked[i] = (self._query(i, row), k_of(i, row.get("k")))
            except MlflowException as error:
                errors[i] = error.message
        if not asked:
            first = errors[0]
            raise _refuse(first + (f" (and {len(errors) - 1:,} other rows could not be answered either)" if len(errors) > 1 else ""))
        if sum(k for _, k in asked.values()) > MAX_ANSWERS:
            raise _refuse(f"{sum(k for _, k in asked.values()):,} songs asked for in all (the rows' k summed); at most "
                          f"{MAX_ANSWERS:,} a request: ask for fewer rows or a smaller k")
        answered = self._answer(asked, serving_deadline(start), len(rows))
        failed = [pl.DataFrame({"query": [i], "rank": [0], "error": [message]}, schema_overrides={"query": pl.Int64, "rank": pl.Int64})
                  for i, message in errors.items()]
        frame = pl.concat([*answered, *failed], how="diagonal_relaxed").sort("query", "rank", maintain_order=True)
        if "error" not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias("error"))
        return frame.select("query", "rank", "song_id", *SONG_TAGS, "by", "error").to_pandas()

    def _answer(self, asked: dict[int, tuple[tuple[np.ndarray, int, str], int]], deadline: float | None, n_rows: int) -> list[pl.DataFrame]:
        """Each answerable row's top k, ``CHUNK`` queries at a time; past ``deadline`` the work stops."""
        order, out = list(asked), []
        for start in range(0, len(order), CHUNK):
            if deadline is not None and time.monotonic() > deadline:
                raise MlflowException(f"stopped after {start:,} of {n_rows:,} queries: past the server's timeout, which has "
                                      "answered this request already; send fewer queries a request")
            chunk = order[start : start + CHUNK]
            ks = [asked[i][1] for i in chunk]
            top = nearest(np.stack([asked[i][0][0] for i in chunk]), self.song_vectors, max(ks), self.metric,
                          exclude=np.array([asked[i][0][1] for i in chunk], dtype=np.int64))
            for row, (i, k) in enumerate(zip(chunk, ks)):
                picked = self.songs[top[row, :k].tolist()]  # at most the catalogue less the query song
                out.append(picked.with_columns(pl.lit(i, pl.Int64).alias("query"), pl.int_range(1, picked.height + 1, dtype=pl.Int64).alias("rank"),
                                               pl.lit(asked[i][0][2]).alias("by")))
        return out
