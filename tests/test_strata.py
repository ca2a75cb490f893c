"""Strata of the evaluation, on cases counted by hand."""

import numpy as np
import scipy.sparse as sp

from pipeline.evaluation.strata import popularity_tiers, stratified, tertiles


def test_tiers_split_the_plays_in_thirds():
    # 12 plays: song 0 takes the first third alone (head), songs 1-2 the second (torso), the rest the tail
    counts = np.array([4, 2, 2, 1, 1, 1, 1])
    assert popularity_tiers(counts).tolist() == [0, 1, 1, 2, 2, 2, 2]


def test_tertiles_label_their_ranges():
    labels = tertiles(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9]), ("short", "medium", "long"), "songs")
    assert labels.tolist() == ["short (1-3 songs)"] * 3 + ["medium (4-6 songs)"] * 3 + ["long (7-9 songs)"] * 3


def test_recall_by_tier_counts_only_the_tiers_relevant_songs():
    # two queries; songs 0 (head), 1 (torso), 2, 3 (tail)
    tiers = np.array([0, 1, 2, 2])
    relevant = sp.csr_matrix(np.array([[1, 0, 1, 1], [0, 1, 0, 1]]))
    top = np.array([[0, 2], [3, 0]])  # query 0 finds songs 0 and 2; query 1 finds song 3
    rows = stratified("exp1", "m", top, relevant, {2: np.array([2 / 3, 1 / 2])}, {}, tiers, (2,))
    recall = {r["stratum"]: (r["recall"], r["queries"]) for r in rows}
    # head: only query 0 has a head song, found: 1.0; torso: only query 1, not found: 0.0;
    # tail: query 0 finds 1 of its 2 tail songs, query 1 its only one: (0.5 + 1) / 2
    assert recall == {"head": (1.0, 1), "torso": (0.0, 1), "tail": (0.75, 2)}


def test_user_kinds_label_each_query_by_its_user():
    import polars as pl

    from pipeline.evaluation.strata import query_strata

    relevant = sp.csr_matrix(np.ones((3, 2)))
    kinds = pl.DataFrame({"user_id": ["a", "b"], "preference": ["single", "dynamic"], "device_related": [True, False],
                          "time_related": [False, False]})
    strata = query_strata(relevant, ["a", "b", "c"], None, kinds)
    assert strata["preference"].tolist() == ["single preference", "dynamic preference", None]  # c was not measured
    assert strata["device-related"].tolist() == ["device-related", "not device-related", None]
