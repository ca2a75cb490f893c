import networkx as nx
import numba
import numpy as np
import polars as pl
import pytest
from helpers import path_graph

from pipeline.contract import StageFiles
from pipeline.network.graph import SESSION, SONG, USER, Graph, user_session_song_graph, user_song_graph
from pipeline.network.walks import generate_walks, read_walks, write_corpus

TRAIN = pl.DataFrame({
    "user_id": ["u1", "u1", "u1", "u2", "u2"],
    "session_id": [10, 10, 11, 12, 12],
    "song_id": ["a", "a", "b", "a", "c"],  # song a twice in session 10: one edge
})


def neighbours(graph: Graph, kind: str, key: str) -> set[tuple[str, str]]:
    v = graph.index_of(kind)[key]
    keys = graph.vertices.sort("vertex")
    return {(keys["kind"][int(n)], keys["key"][int(n)]) for n in graph.indices[graph.indptr[v] : graph.indptr[v + 1]]}


def test_user_session_song_edges():
    g = user_session_song_graph(TRAIN)
    assert g.n_vertices == 2 + 3 + 3
    assert g.n_edges == 3 + 4  # user-session: 3; session-song: (10,a) (11,b) (12,a) (12,c)
    assert g.vertices["kind"].to_list() == [USER] * 2 + [SESSION] * 3 + [SONG] * 3
    assert neighbours(g, USER, "u1") == {(SESSION, "10"), (SESSION, "11")}
    assert neighbours(g, SESSION, "12") == {(USER, "u2"), (SONG, "a"), (SONG, "c")}
    assert neighbours(g, SONG, "a") == {(SESSION, "10"), (SESSION, "12")}


def test_user_song_edges():
    g = user_song_graph(TRAIN)
    assert g.n_vertices == 5 and g.n_edges == 4
    assert neighbours(g, SONG, "a") == {(USER, "u1"), (USER, "u2")}


def test_save_and_load(tmp_path):
    g = user_session_song_graph(TRAIN)
    files = StageFiles("graph_uss", tmp_path)
    g.save(files)
    back = Graph.load(files)
    assert np.array_equal(back.indptr, g.indptr) and np.array_equal(back.indices, g.indices)
    assert back.vertices.equals(g.vertices)


def test_walks_on_two_vertices_alternate():
    walks = np.concatenate([w for _, w in generate_walks(path_graph(2), walk_length=5, walks_per_vertex=2)])
    assert sorted(map(tuple, walks.tolist())) == [(0, 1, 0, 1, 0)] * 2 + [(1, 0, 1, 0, 1)] * 2


def test_walks_follow_edges_and_cover_every_start():
    g = user_session_song_graph(TRAIN)
    walks = np.concatenate([w for _, w in generate_walks(g, walk_length=7, walks_per_vertex=3, seed=5)])
    assert walks.shape == (g.n_vertices * 3, 7)
    assert np.array_equal(np.bincount(walks[:, 0]), np.full(g.n_vertices, 3))
    assert g.has_edges(walks[:, :-1].ravel(), walks[:, 1:].ravel()).all()


def test_isolated_vertex_walk_stops():
    g = path_graph(1)
    (_, w), = list(generate_walks(g, walk_length=4, walks_per_vertex=1))
    assert w.tolist() == [[0, -1, -1, -1]]


def test_corpus_is_seeded_and_independent_of_thread_count(tmp_path):
    g = path_graph(50)
    stats = write_corpus(g, tmp_path / "a.txt", walk_length=10, walks_per_vertex=4, seed=3, batch_size=17)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        write_corpus(g, tmp_path / "b.txt", walk_length=10, walks_per_vertex=4, seed=3, batch_size=64)
    finally:
        numba.set_num_threads(threads)
    write_corpus(g, tmp_path / "c.txt", walk_length=10, walks_per_vertex=4, seed=4)
    a, b, c = ((tmp_path / f"{x}.txt").read_bytes() for x in "abc")
    assert a == b
    assert a != c
    walks = read_walks(tmp_path / "a.txt")
    assert len(walks) == stats.walks == 200 and all(len(w) == 10 for w in walks)
    assert stats.tokens == 2000
    assert np.array_equal(stats.vertex_counts, np.bincount(np.concatenate(walks), minlength=50))
    assert not list(tmp_path.glob(".*partial*"))


def _stream_walk(graph: Graph, start: int, walk_length: int, seed: int, pass_index: int) -> list[int]:
    """A walk by the definition in pipeline/network/walks.py, in Python integers: each walk its own splitmix64 stream
    seeded by (seed, pass, start), one draw a step, the neighbour at draw mod degree; -1 once stuck."""
    mask, golden, m1, m2 = (1 << 64) - 1, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB

    def mix(x):
        z = (x + golden) & mask
        z = ((z ^ (z >> 30)) * m1) & mask
        z = ((z ^ (z >> 27)) * m2) & mask
        return z ^ (z >> 31)

    state, v, walk = mix(mix(seed) ^ mix((pass_index * m1 + start) & mask)), start, [start]
    for _ in range(walk_length - 1):
        neighbours = graph.indices[graph.indptr[v]:graph.indptr[v + 1]] if v >= 0 else []
        if len(neighbours) == 0:
            v = -1
        else:
            state = (state + golden) & mask
            v = int(neighbours[mix(state) % len(neighbours)])
        walk.append(v)
    return walk


@pytest.mark.parametrize("batch_size", [1, 3, 11, 1 << 16])  # walks advanced side by side in lanes, batches cut anywhere
def test_every_walk_is_its_own_stream_by_the_definition(batch_size):
    rng = np.random.default_rng(2)
    edges = {tuple(sorted(e)) for e in rng.integers(0, 27, (60, 2)).tolist() if e[0] != e[1]}  # 28, 29 isolated
    g = nx.Graph(list(edges))
    g.add_nodes_from(range(30))
    adj = nx.to_scipy_sparse_array(g, nodelist=range(30), format="csr")
    adj.sort_indices()
    graph = Graph(adj.indptr.astype(np.int64), adj.indices.astype(np.int32), pl.DataFrame({"vertex": range(30)}))
    for r, walks in generate_walks(graph, walk_length=9, walks_per_vertex=2, seed=7, batch_size=batch_size):
        for walk in walks.tolist():
            assert walk == _stream_walk(graph, walk[0], 9, 7, r)


def test_failed_corpus_leaves_no_file(tmp_path):
    with pytest.raises(ValueError):
        write_corpus(path_graph(3), tmp_path / "w.txt", walk_length=0)
    assert list(tmp_path.iterdir()) == []


def random_train(seed: int) -> pl.DataFrame:
    """40 sessions of 5 users over 30 songs, songs repeated within sessions at times."""
    rng = np.random.default_rng(seed)
    rows = [(f"u{s % 5}", s, f"s{song}") for s in range(40) for song in rng.integers(0, 30, size=rng.integers(1, 7))]
    return pl.DataFrame(rows, schema=["user_id", "session_id", "song_id"], orient="row")


def as_networkx(graph: Graph) -> nx.Graph:
    """The CSR graph as networkx, vertices named (kind, key)."""
    names = dict(zip(graph.vertices["vertex"].to_list(), zip(graph.vertices["kind"].to_list(), graph.vertices["key"].to_list())))
    out = nx.Graph()
    out.add_nodes_from(names.values())
    for v in range(graph.n_vertices):
        out.add_edges_from((names[v], names[int(w)]) for w in graph.indices[graph.indptr[v] : graph.indptr[v + 1]])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_csr_networks_equal_the_networks_networkx_builds_from_the_sessions(seed):
    train = random_train(seed)
    uss, us = nx.Graph(), nx.Graph()
    for user, session, song in train.iter_rows():
        uss.add_edge((USER, user), (SESSION, str(session)))
        uss.add_edge((SESSION, str(session)), (SONG, song))
        us.add_edge((USER, user), (SONG, song))
    assert nx.utils.graphs_equal(as_networkx(user_session_song_graph(train)), uss)
    assert nx.utils.graphs_equal(as_networkx(user_song_graph(train)), us)


def test_walks_step_only_along_networkx_edges():
    graph = user_session_song_graph(random_train(3))
    oracle = as_networkx(graph)
    names = dict(zip(graph.vertices["vertex"].to_list(), zip(graph.vertices["kind"].to_list(), graph.vertices["key"].to_list())))
    steps = 0
    for _, walks in generate_walks(graph, walk_length=12, walks_per_vertex=3, seed=5):
        for walk in walks:
            for a, b in zip(walk[:-1], walk[1:]):
                assert oracle.has_edge(names[int(a)], names[int(b)])
                steps += 1
    assert steps == graph.n_vertices * 3 * 11


def test_the_walks_stage_records_what_its_walks_were_drawn_with(tmp_path):
    """stats.json, which the embeddings copy into their params: on a 6-vertex path every walk runs its full length."""
    import json

    from pipeline.engines.local import LOCAL

    graph, walks = StageFiles("graph_us", tmp_path / "graph"), StageFiles("walks_us", tmp_path / "walks")
    graph.folder.mkdir()
    walks.folder.mkdir()
    path_graph(6).save(graph)
    counts = LOCAL["walks_us"]({"graph_us": graph}, walks, None, walk_length=5, walks_per_vertex=2, seed=4)
    stats = json.loads(walks["stats"].read_text())
    assert stats == {**counts, "walk_length": 5, "walks_per_vertex": 2, "seed": 4, "engine": "local"}
    assert (counts["walks"], counts["tokens"]) == (12, 60)
