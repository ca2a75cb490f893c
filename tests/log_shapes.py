"""Listening logs shaped like the real ones (not like the synthetic log): years long, very uneven activity,
users who come and go, songs without MBIDs. Written in each format's own layout."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

START = datetime(2005, 3, 1, tzinfo=timezone.utc)


def listens(users: int, years: float, seed: int = 0) -> list[tuple[str, datetime, int]]:
    """(user, start time, song number) for sessions of 5-14 songs, 3 minutes apart. Each user is active for a
    random stretch of the span, with a heavy-tailed number of sessions (a few heavy listeners, many light ones)."""
    rng = np.random.default_rng(seed)
    span = years * 365 * 86400
    out = []
    for u in range(users):
        first = rng.uniform(0, span * 0.6)
        stretch = rng.uniform(0.2, 1.0) * (span - first)
        n_sessions = int(min(400, 5 + rng.pareto(1.2) * 30))
        taste = rng.integers(0, 10)  # a preferred block of the catalogue
        for t in np.sort(rng.uniform(first, first + stretch, n_sessions)):
            start = START + timedelta(seconds=float(t))
            for k in range(int(rng.integers(5, 15))):
                song = int(taste * 40 + rng.zipf(1.6) % 40) if rng.random() < 0.8 else int(rng.integers(0, 400))
                out.append((f"user_{u:06d}", start + timedelta(minutes=3 * k), song))
    return out


def write_lastfm_1k(folder: Path, users: int = 60, years: float = 3.0, seed: int = 0) -> Path:
    """Last.fm-1K's TSV: no header; a fifth of the tracks have no MBID (a song is then "artist – track")."""
    path = folder / "userid-timestamp-artid-artname-traid-traname.tsv"
    with open(path, "w", encoding="utf-8") as fh:
        for user, ts, song in listens(users, years, seed):
            mbid = "" if song % 5 == 0 else f"{song:08d}-0000-4000-8000-000000000000"
            fh.write(f"{user}\t{ts:%Y-%m-%dT%H:%M:%SZ}\t{song // 20:08d}-aaaa\tArtïst {song // 20}\t{mbid}\tTrack {song}\n")
        fh.write("user_000001\t2009-05-04T23:08:57Z\tonly four\tfields\n")  # a broken line, quarantined
    return path


def write_spotify(folder: Path, people: int = 40, years: float = 1.5, seed: int = 1) -> Path:
    """Extended streaming history of several people: one folder each, one JSON array a year; ``ts`` is the end."""
    by_person: dict[str, list] = {}
    platforms = ["Android OS 13", "Windows 10 (10.0.19045)", "iOS 16.1 (iPad13,1)"]
    for user, ts, song in listens(people, years, seed):
        by_person.setdefault(user, []).append({
            "ts": f"{ts + timedelta(seconds=170):%Y-%m-%dT%H:%M:%SZ}", "username": user, "ms_played": 170000,
            "platform": platforms[int(user[-2:]) % 3],
            "spotify_track_uri": f"spotify:track:{song:022d}", "master_metadata_album_artist_name": f"Artist {song // 20}"})
    for user, records in by_person.items():
        (folder / user).mkdir(parents=True)
        (folder / user / "Streaming_History_Audio_2005.json").write_text(json.dumps(records))
    (folder / next(iter(by_person)) / "Streaming_History_Audio_2006.json").write_text(json.dumps([
        {"ts": "2006-01-01T10:00:00Z", "ms_played": 1000, "episode_name": "A podcast", "spotify_episode_uri": "spotify:episode:1"}]))
    return folder


def write_listenbrainz(folder: Path, users: int = 50, years: float = 2.0, seed: int = 2) -> Path:
    """ListenBrainz listens: one JSON listen a line, ``listened_at`` in unix seconds; some without a recording MBID."""
    path = folder / "listens.listens"
    with open(path, "w", encoding="utf-8") as fh:
        for user, ts, song in listens(users, years, seed):
            info = {} if song % 4 == 0 else {"recording_mbid": f"{song:08d}-1111-4000-8000-000000000000"}
            fh.write(json.dumps({"listened_at": int(ts.timestamp()), "user_name": user, "track_metadata": {
                "artist_name": f"Artist {song // 20}", "track_name": f"Track {song}", "additional_info": info}}) + "\n")
        fh.write("{not json\n")
    return path
