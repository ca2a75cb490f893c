"""The ``model`` stage: the latent space (128-d, sessions included) and the ALS baseline packaged as servable space
folders (``pipeline.serving.pyfunc.write_space``), with what the champion gate needs: each model's validation score beside
popularity's, and a digest of the validation data (``pipeline.serving.promotion``). Logging and registering them in MLflow
is the asset's."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import polars as pl

from pipeline.analysis.views import song_table
from pipeline.contract import EVENT_IDS, StageFiles
from pipeline.evaluation.baselines import catalogue
from pipeline.evaluation.metrics import mf_space, proposed_space
from pipeline.evaluation.queries import latest_sessions
from pipeline.io import read_json
from pipeline.serving.promotion import Validation
from pipeline.serving.pyfunc import write_space
from pipeline.sessions.sessions import session_table

NAMES = ("proposed", "mf")


def model(upstream: Mapping[str, StageFiles], out: StageFiles, log=None) -> dict:
    """Write both models' folders; returns, for each, its folder and validation scores ([score, popularity's, data
    digest]: the proposed model's score is the skip-gram tuning's best point, scored only when that tuning ran), and
    an input example's rows (a song query and a user query)."""
    train = pl.read_parquet(upstream["splits"]["train"], columns=EVENT_IDS)
    users, songs = catalogue(train)
    tags = song_table(upstream).sort("song_id")
    latest = latest_sessions(session_table(train).collect().with_columns(pl.col("session_id").cast(pl.String)))
    spaces = {"proposed": (proposed_space(upstream, songs), latest), "mf": (mf_space(upstream, users), None)}
    scores = read_json(upstream["als_tuning"]["validation"])
    tuned = read_json(upstream["skipgram_tuning"]["result"])
    validation = {  # scored on the validation split by models trained on the fit part (pipeline.serving.promotion)
        # the settings embedding_uss trained with: the grid's best point (pipeline.embedding.record.tuned)
        "proposed": [tuned.get("best_score") if tuned.get("enabled") else None, scores["popularity"], scores["data"]],
        "mf": [scores["MF"], scores["popularity"], scores["data"]],
    }
    folders = {name: str(write_space(out[name], space, tags, sessions)) for name, (space, sessions) in spaces.items()}
    example = [{"song_id": songs[0], "user_id": None, "device": None, "k": 5}, {"song_id": None, "user_id": users[0], "device": None, "k": 5}]
    return {"folders": folders, "validation": validation, "example": example}


def validation_of(result: dict, name: str) -> Validation:
    """Model ``name``'s validation scores from the stage's result."""
    return Validation(*result["validation"][name])


def input_example(result: dict) -> pd.DataFrame:
    """The models' input example from the stage's result."""
    return pd.DataFrame(result["example"])
