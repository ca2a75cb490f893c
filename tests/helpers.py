"""Hand-made listening events for the tests."""

from datetime import datetime, timedelta, timezone

import polars as pl

T0 = datetime(2016, 5, 1, 12, 0, tzinfo=timezone.utc)


def events(rows: list[tuple]) -> pl.DataFrame:
    """rows of (minutes after T0, user, device, song)."""
    return pl.DataFrame(
        {
            "timestamp": [T0 + timedelta(minutes=m) for m, *_ in rows],
            "user_id": [r[1] for r in rows],
            "device": [r[2] for r in rows],
            "song_id": [r[3] for r in rows],
        },
        schema={"timestamp": pl.Datetime("us", "UTC"), "user_id": pl.String, "device": pl.String, "song_id": pl.String},
    )
