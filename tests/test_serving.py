"""The servable latent space on a hand-made space whose answers are known."""

import numpy as np
import pandas as pd
import polars as pl
import pytest
from mlflow.exceptions import MlflowException

from pipeline.evaluation.methods import Space
from pipeline.evaluation.nearest import EUCLIDEAN
from pipeline.serving.pyfunc import LatentSpaceModel, write_space

# Songs 0-1 sit near (0, 0), songs 2-3 near (5, 5). The user's vector is with songs 2-3; their latest
# session on the mobile sits with songs 0-1.
SPACE = Space("proposed", EUCLIDEAN, np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.2, 5.0]]),
              users={"u": np.array([5.1, 5.0])}, sessions={"7": np.array([0.05, 0.0]), "8": np.array([5.0, 5.1])})
SONGS = pl.DataFrame({"song_id": ["s0", "s1", "s2", "s3"], "title": ["A", "B", "C", "D"], "genre": ["pop"] * 4})
LATEST = pl.DataFrame({"user_id": ["u", "u"], "device": ["mobile", "desktop"], "session_id": ["7", "8"]})


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return LatentSpaceModel().load(write_space(tmp_path_factory.mktemp("space"), SPACE, SONGS, LATEST))


def ask(model, **row) -> pd.DataFrame:
    return model.predict(None, pd.DataFrame([row]))


def test_similar_songs_are_the_nearest_others(model):
    out = ask(model, song_id="s0", k=2)
    assert out["song_id"].tolist() == ["s1", "s2"] and out["rank"].tolist() == [1, 2]  # never the query song itself
    assert out["title"].tolist() == ["B", "C"] and out["by"].tolist() == ["song", "song"]
    assert out["artist"].isna().all()  # a tag the log does not have


def test_a_user_and_a_user_on_a_device(model):
    assert ask(model, user_id="u", k=2)["song_id"].tolist() == ["s2", "s3"]
    on_mobile = ask(model, user_id="u", device="mobile", k=2)
    assert on_mobile["song_id"].tolist() == ["s0", "s1"] and on_mobile["by"][0] == "latest session on mobile"
    on_tv = ask(model, user_id="u", device="tv", k=1)  # no session there: the user's vector, and it says so
    assert on_tv["song_id"].tolist() == ["s2"] and on_tv["by"][0] == "user (no train session on it: tv)"


def test_several_queries_at_once_and_the_default_k(model):
    out = model.predict(None, pd.DataFrame([{"song_id": "s3"}, {"user_id": "u", "k": 3}]))
    assert out.groupby("query").size().tolist() == [3, 3]  # k defaults to 10, at most the other songs
    # a whole number as pandas holds it beside a missing k (5.0), or as numpy's integer
    assert model.predict(None, pd.DataFrame([{"song_id": "s3", "k": 2.0}, {"user_id": "u", "k": None}])).groupby("query").size().tolist() == [2, 3]
    assert len(model.predict(None, pd.DataFrame({"song_id": ["s3"], "k": np.array([1], dtype=np.int32)}))) == 1


@pytest.mark.parametrize("row, message", [
    ({"song_id": "nope"}, "unknown song_id 'nope'"),
    ({"user_id": "ghost"}, "unknown user_id 'ghost'"),
    ({"song_id": "s0", "user_id": "u"}, "not both"),
    ({"device": "mobile"}, "not neither"),
    ({"song_id": "s0", "k": 0}, "k must be a whole number"),
    ({"song_id": "s0", "k": 2.5}, "k must be a whole number from 1 to 500, or absent for 10; not 2.5"),
    ({"song_id": "s0", "k": "5"}, "not '5' \\(a str\\)"),
    ({"song_id": "s0", "k": True}, "not True \\(a bool\\)"),
])
def test_bad_queries_are_refused_with_a_message(model, row, message):
    with pytest.raises(MlflowException, match=message):
        ask(model, **row)


def test_a_request_too_large_is_refused_before_any_work(model):
    from pipeline.serving.pyfunc import MAX_ANSWERS, MAX_ROWS

    with pytest.raises(MlflowException, match=f"{MAX_ROWS + 1:,} queries in one request; at most {MAX_ROWS:,}"):
        model.predict(None, pd.DataFrame([{"song_id": "s0"}] * (MAX_ROWS + 1)))
    rows = MAX_ANSWERS // 500 + 1
    with pytest.raises(MlflowException, match=f"{rows * 500:,} songs asked for in all"):
        model.predict(None, pd.DataFrame([{"song_id": "s0", "k": 500}] * rows))


def test_a_row_that_cannot_be_answered_says_why_and_the_others_are_answered(model):
    out = model.predict(None, pd.DataFrame([{"song_id": "s0", "k": 1}, {"user_id": "ghost"}, {"user_id": "u", "k": 2.5},
                                            {"user_id": "u", "k": 1}]))
    assert out["query"].tolist() == [0, 1, 2, 3] and out["rank"].tolist() == [1, 0, 0, 1]
    assert out["song_id"].tolist()[0::3] == ["s1", "s2"] and out["error"].isna().tolist() == [True, False, False, True]
    assert out["error"][1].startswith("row 1: unknown user_id 'ghost'") and "k must be a whole number" in out["error"][2]
    assert pd.isna(out["song_id"][1]) and pd.isna(out["by"][1])  # null in the JSON answer


def test_a_request_none_of_whose_rows_can_be_answered_is_refused_with_the_first_reason(model):
    with pytest.raises(MlflowException, match=r"row 0: unknown song_id 'x' .* \(and 1 other rows could not be answered either\)"):
        model.predict(None, pd.DataFrame([{"song_id": "x"}, {"user_id": "y"}]))


def test_an_id_that_is_not_text_is_refused_as_such(model):
    with pytest.raises(MlflowException, match=r'row 0: song_id must be text \(ids are strings, "42"\), not 42 \(a int\)'):
        ask(model, song_id=42)


def test_served_work_stops_once_the_servers_timeout_has_passed(model, monkeypatch):
    rows = pd.DataFrame([{"song_id": "s0", "k": 1}] * 200)
    monkeypatch.setenv("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "true")
    monkeypatch.setenv("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", "600")
    assert len(model.predict(None, rows)) == 200  # within the timeout: every query answered
    monkeypatch.setenv("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", "0")  # the server has given up already: no query worked on
    with pytest.raises(MlflowException, match="stopped after 0 of 200 queries: past the server's timeout"):
        model.predict(None, rows)
    monkeypatch.delenv("_MLFLOW_IS_IN_SERVING_ENVIRONMENT")
    assert len(model.predict(None, rows)) == 200  # outside a server, a batch takes the time it takes
