import ast
import subprocess
import sys

import numpy as np
import polars as pl
from helpers import T0

from pipeline.analysis.behaviour import (
    _knn_accuracy,
    agreement_with_truth,
    analyse_users,
    log_otsu_threshold,
    otsu_threshold,
    permutation_test,
)


def test_otsu_cuts_between_two_groups():
    assert otsu_threshold(np.array([1.0, 1.0, 1.0, 10.0, 10.0, 10.0])) == 5.5
    # On a log scale the cut falls at the geometric middle: sqrt(0.01 * 0.1)
    assert abs(log_otsu_threshold(np.array([0.01, 0.01, 0.1, 0.1])) - np.sqrt(0.001)) < 1e-12


def test_permutation_test_finds_a_label_that_follows_position():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 0.1, (20, 2)), rng.normal(5, 0.1, (20, 2))]
    from pipeline.analysis.behaviour import _neighbours

    nn = _neighbours(x, 5)
    related = np.r_[np.zeros(20, int), np.ones(20, int)]
    acc, chance, p = permutation_test(_knn_accuracy, nn, related, np.random.default_rng(1), 199)
    assert acc == 1.0 and chance < 0.7 and p == 1 / 200
    unrelated = rng.permutation(related)
    assert permutation_test(_knn_accuracy, nn, unrelated, np.random.default_rng(1), 199)[2] > 0.01


def test_analyse_users_tells_single_from_dynamic_and_device_related():
    rng = np.random.default_rng(3)
    rows, vectors = [], []
    # u_single: one blob; u_device: two blobs, one per device; u_mixed: two blobs, devices random
    for user, centres, by_device in (("u_single", [(0, 0)], False), ("u_device", [(0, 0), (6, 6)], True),
                                     ("u_mixed", [(0, 6), (6, 0)], False), ("u_single2", [(3, 3)], False)):
        for i in range(40):
            c = i % len(centres)
            device = ("mobile", "desktop")[c] if by_device else ("mobile", "desktop")[rng.integers(2)]
            rows.append({"user_id": user, "device": device, "start": T0.replace(hour=int(rng.integers(24))), "vertex": len(vectors)})
            vectors.append(np.array(centres[c], float) + rng.normal(0, 0.3, 2))
    table, summary = analyse_users(pl.DataFrame(rows), np.array(vectors), permutations=99, alpha=0.05)
    got = {r["user_id"]: r for r in table.iter_rows(named=True)}
    assert got["u_single"]["preference"] == got["u_single2"]["preference"] == "single"
    assert got["u_device"]["preference"] == got["u_mixed"]["preference"] == "dynamic"
    assert got["u_device"]["device_related"] and not got["u_mixed"]["device_related"]
    truth = pl.DataFrame({"user_id": ["u_single", "u_device", "u_mixed", "u_single2"], "kind": ["single", "dynamic", "dynamic", "single"],
                          "dependence": ["none", "device", "none", "none"]})
    agreement = agreement_with_truth(table, truth)
    assert agreement["preference_accuracy"] == 1.0 and agreement["device_accuracy"] == 1.0


def test_every_user_s_row_is_the_same_whatever_the_number_of_workers():
    rng = np.random.default_rng(8)
    rows, vectors = [], []
    for u in range(6):
        for i in range(15):
            rows.append({"user_id": f"u{u}", "device": ("mobile", "desktop", None)[int(rng.integers(3))],
                         "start": T0.replace(hour=int(rng.integers(24)), minute=int(rng.integers(60))), "vertex": len(vectors)})
            vectors.append(rng.normal(0, 1, 4) + (i % 2) * 3 * (u % 2))
    sessions, vectors = pl.DataFrame(rows), np.array(vectors)
    alone, _ = analyse_users(sessions, vectors, permutations=49, workers=1)
    pooled, _ = analyse_users(sessions, vectors, permutations=49, workers=2)
    assert alone.height == 6 and alone.equals(pooled)


def test_a_worker_runs_k_means_and_blas_on_one_thread():
    # threadpoolctl limits only the libraries already loaded: scikit-learn's OpenMP runtime must be among them
    code = ("from pipeline.analysis.behaviour import _one_thread; _one_thread(); from pipeline.analysis.behaviour import cluster_silhouettes; "
            "import numpy as np; cluster_silhouettes(np.random.default_rng(0).normal(size=(20, 4)), 0); "
            "from threadpoolctl import threadpool_info; print([(i['internal_api'], i['num_threads']) for i in threadpool_info()])")
    pools = ast.literal_eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert "openmp" in {api for api, _ in pools} and all(n == 1 for _, n in pools), pools
