"""A seeded synthetic listening log shaped like a real streaming service.

It plants the structure the paper looks for, so that every analysis has something true to find:

- songs belong to artists; an artist has one language and one genre, so songs form language x genre
  communities; six languages, one of them the majority; popularity is Zipf-like;
- users have one taste (a community) or several ("single" vs "dynamic" preference); a dynamic user's
  taste per session depends on the device, on the hour of day, or on neither;
- sessions hold 5-40 songs (a few shorter ones, which the split drops), songs follow each other
  after a song's length, sessions are hours to days apart.

The log streams to Parquet one block of users at a time, so the same code reaches paper scale.
The planted truth (each user's kind and dependence, each song's tags) is written beside it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from pipeline.contract import EVENT_SCHEMA, StageFiles
from pipeline.ingest.synthetic_config import (  # noqa: F401  (SyntheticConfig and the palette are this module's API too)
    DEVICE_SHARES,
    DEVICES,
    GENRES,
    LANGUAGE_SHARES,
    LANGUAGES,
    SyntheticConfig,
)
from pipeline.io import atomic_path


def _utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)


def _catalog(cfg: SyntheticConfig, rng: np.random.Generator) -> pl.DataFrame:
    n_lang, n_genre = len(LANGUAGES), len(GENRES)
    artist_language = rng.choice(n_lang, size=cfg.n_artists, p=LANGUAGE_SHARES)
    # Each language leans towards a few genres, as real catalogues do.
    genre_pref = rng.dirichlet(np.full(n_genre, 0.6), size=n_lang)
    artist_genre = np.array([rng.choice(n_genre, p=genre_pref[lang]) for lang in artist_language])
    # Every artist has at least one song; the rest go to artists by a Zipf-like share.
    artist_weight = 1.0 / np.arange(1, cfg.n_artists + 1) ** 0.8
    extra = rng.choice(cfg.n_artists, size=cfg.n_songs - cfg.n_artists, p=artist_weight / artist_weight.sum())
    song_artist = rng.permutation(np.concatenate([np.arange(cfg.n_artists), extra]))
    popularity = 1.0 / rng.permutation(np.arange(1, cfg.n_songs + 1)) ** cfg.zipf_exponent
    width = len(str(cfg.n_songs))
    return pl.DataFrame(
        {
            "song_id": [f"s{i:0{width}d}" for i in range(cfg.n_songs)],
            "title": [f"Song {i}" for i in range(cfg.n_songs)],
            "artist": [f"a{a:0{len(str(cfg.n_artists))}d}" for a in song_artist],
            "genre": [GENRES[artist_genre[a]] for a in song_artist],
            "language": [LANGUAGES[artist_language[a]] for a in song_artist],
            "popularity": popularity,
            "duration_s": rng.integers(150, 361, size=cfg.n_songs),
            "community": artist_language[song_artist] * n_genre + artist_genre[song_artist],
        }
    )


class _Sampler:
    """Popularity-weighted song draws, from one community or from the whole catalogue."""

    def __init__(self, catalog: pl.DataFrame) -> None:
        community = catalog["community"].to_numpy()
        pop = catalog["popularity"].to_numpy()
        self.communities = np.unique(community)
        self.community_size = np.array([(community == c).sum() for c in self.communities])
        self.members: dict[int, np.ndarray] = {}
        self.cum: dict[int, np.ndarray] = {}
        for c in self.communities:
            idx = np.flatnonzero(community == c)
            self.members[int(c)] = idx
            self.cum[int(c)] = np.cumsum(pop[idx]) / pop[idx].sum()
        self.all_cum = np.cumsum(pop) / pop.sum()

    def draw(self, community: int, n: int, rng: np.random.Generator) -> np.ndarray:
        pos = np.searchsorted(self.cum[community], rng.random(n), side="right")
        return self.members[community][np.minimum(pos, len(self.members[community]) - 1)]

    def draw_any(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.minimum(np.searchsorted(self.all_cum, rng.random(n), side="right"), len(self.all_cum) - 1)

    def pick_tastes(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n distinct communities, larger ones more likely (only communities with 10+ songs)."""
        ok = self.community_size >= min(10, self.community_size.max())
        weights = np.where(ok, self.community_size, 0).astype(float)
        n = min(n, int(ok.sum()))
        return rng.choice(self.communities, size=n, replace=False, p=weights / weights.sum())


def _plant_users(cfg: SyntheticConfig, sampler: _Sampler, rng: np.random.Generator) -> list[dict]:
    users = []
    width = len(str(cfg.n_users))
    for u in range(cfg.n_users):
        single = rng.random() < cfg.single_share
        dependence = "none" if single else ("device", "time", "none")[rng.integers(3)]
        n_devices = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
        if dependence == "device":
            n_devices = max(n_devices, 2)
        device_idx = rng.choice(len(DEVICES), size=n_devices, replace=False, p=DEVICE_SHARES)
        if single:
            n_tastes = 1
        elif dependence == "device":
            n_tastes = n_devices
        elif dependence == "time":
            n_tastes = 2  # daytime vs night-time taste
        else:
            n_tastes = int(rng.integers(2, 5))
        users.append(
            {
                "user_id": f"u{u:0{width}d}",
                "kind": "single" if single else "dynamic",
                "dependence": dependence,
                "devices": [DEVICES[d] for d in device_idx],
                "device_share": rng.dirichlet(np.full(n_devices, 2.0)).tolist(),
                "tastes": sampler.pick_tastes(n_tastes, rng).tolist(),
                "rate": float(cfg.sessions_per_day * rng.lognormal(0.0, 0.3)),
            }
        )
    return users


# Share of sessions starting in each hour of the day (UTC stands in for local time): quiet at night,
# a commute bump and an evening peak.
_HOUR_WEIGHTS = np.array([3, 2, 1, 1, 1, 1, 2, 4, 6, 5, 4, 4, 5, 5, 4, 4, 5, 6, 7, 8, 9, 9, 7, 5], float)
_HOUR_WEIGHTS /= _HOUR_WEIGHTS.sum()


def is_daytime(hour: np.ndarray) -> np.ndarray:
    """The planted time dependence: one taste from 08:00 to 19:59, the other at night."""
    return (hour >= 8) & (hour < 20)


def _user_events(cfg, user, durations, sampler, rng, t0: float, t1: float) -> dict[str, np.ndarray]:
    span_days = (t1 - t0) / 86400.0
    n_sessions = max(1, rng.poisson(user["rate"] * span_days))
    day = np.sort(rng.integers(0, int(span_days), size=n_sessions))
    hour = rng.choice(24, size=n_sessions, p=_HOUR_WEIGHTS)
    starts = t0 + day * 86400.0 + hour * 3600.0 + rng.uniform(0, 3600, size=n_sessions)
    starts.sort()
    short = rng.random(n_sessions) < cfg.short_session_share
    lengths = np.where(
        short,
        rng.integers(1, 5, size=n_sessions),
        np.minimum(5 + rng.geometric(1.0 / max(cfg.mean_session_songs - 4, 1.0), size=n_sessions), cfg.max_session_songs),
    )
    device_of_session = rng.choice(len(user["devices"]), size=n_sessions, p=user["device_share"])

    tastes = np.asarray(user["tastes"])
    songs = np.empty(lengths.sum(), dtype=np.int64)
    times = np.empty(lengths.sum(), dtype=np.float64)
    session_taste = np.empty(n_sessions, dtype=np.int64)
    pos = 0
    prev_end = -np.inf
    for s in range(n_sessions):
        # Sessions never overlap: a session starts at least 15 minutes after the previous one ended.
        start = max(starts[s], prev_end + 900.0 + rng.exponential(3600.0))
        if start >= t1:
            n_sessions = s
            break
        h = int((start % 86400) // 3600)
        if user["dependence"] == "device":
            taste = tastes[device_of_session[s] % len(tastes)]
        elif user["dependence"] == "time":
            taste = tastes[0 if is_daytime(np.array(h)) else 1]
        elif s > 0 and rng.random() < cfg.taste_persistence:
            taste = session_taste[s - 1]
        else:
            taste = tastes[rng.integers(len(tastes))]
        session_taste[s] = taste
        n = lengths[s]
        on = rng.random(n) < cfg.on_taste_share
        picked = np.where(on, sampler.draw(int(taste), n, rng), sampler.draw_any(n, rng))
        gaps = durations[picked]
        t = start + np.concatenate([[0.0], np.cumsum(gaps[:-1])])
        if t[-1] >= t1:  # the log ends at `end`: cut the last session there
            n = int((t < t1).sum())
            lengths[s] = n
            songs[pos : pos + n], times[pos : pos + n] = picked[:n], t[:n]
            pos += n
            n_sessions = s + 1
            break
        songs[pos : pos + n], times[pos : pos + n] = picked, t
        prev_end = t[-1] + gaps[-1]
        pos += n
    lengths = lengths[:n_sessions]
    return {
        "time": times[:pos],
        "song": songs[:pos],
        "device": np.repeat(device_of_session[:n_sessions], lengths),
        "n_sessions": np.array(n_sessions),
    }


def generate(cfg: SyntheticConfig, files: StageFiles, log=None) -> dict:
    """Write the log (``files["events"]``, Parquet) and the planted truth (the ``truth_*`` files of raw_events).

    Returns a summary: counts of events, users, songs and sessions generated.
    """
    rng = np.random.default_rng(cfg.seed)
    catalog = _catalog(cfg, rng)
    sampler = _Sampler(catalog)
    users = _plant_users(cfg, sampler, rng)
    t0, t1 = _utc(cfg.start).timestamp(), _utc(cfg.end).timestamp()
    durations = catalog["duration_s"].to_numpy().astype(np.float64)
    song_ids = catalog["song_id"].to_numpy()
    song_cols = catalog.select("artist", "genre", "language")

    events_path = files["events"]
    files["truth_users"].parent.mkdir(parents=True, exist_ok=True)
    n_events = n_sessions = 0
    schema = pl.Schema(EVENT_SCHEMA)
    with atomic_path(events_path) as tmp:
        writer = None
        try:
            for b in range(0, cfg.n_users, cfg.users_per_block):
                block = users[b : b + cfg.users_per_block]
                parts = []
                for user in block:
                    ev = _user_events(cfg, user, durations, sampler, rng, t0, t1)
                    n_sessions += int(ev["n_sessions"])
                    idx = ev["song"]
                    parts.append(
                        pl.DataFrame(
                            {
                                "timestamp": (ev["time"] * 1e6).astype(np.int64),
                                "user_id": np.full(len(idx), user["user_id"]),
                                "device": np.asarray(user["devices"])[ev["device"]],
                                "song_id": song_ids[idx],
                            }
                        ).with_columns(song_cols[idx])
                    )
                frame = (
                    pl.concat(parts)
                    .with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
                    .select(list(schema))
                    .cast(dict(schema))
                )
                table = frame.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                n_events += frame.height
                if log:
                    log(f"generated users {b + len(block):,}/{cfg.n_users:,} ({n_events:,} events)")
        finally:
            if writer is not None:
                writer.close()

    truth = pl.DataFrame(
        {
            "user_id": [u["user_id"] for u in users],
            "kind": [u["kind"] for u in users],
            "dependence": [u["dependence"] for u in users],
            "devices": [",".join(u["devices"]) for u in users],
            "n_tastes": [len(u["tastes"]) for u in users],
            "sessions_per_day": [u["rate"] for u in users],
        }
    )
    truth.write_parquet(files["truth_users"])
    catalog.drop("community").write_parquet(files["truth_songs"])
    files["truth_config"].write_text(json.dumps(asdict(cfg), indent=2))
    return {"events": n_events, "users": cfg.n_users, "songs": cfg.n_songs, "sessions": n_sessions}
