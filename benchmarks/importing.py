"""Import speed: rows per second and peak memory of ``pipeline.ingest.importers.import_log`` on a generated log.

Writes a Last.fm-1K TSV and a canonical CSV of ``--rows`` rows (default 20M; about 1.5 GB each, kept
under ``--dir`` and reused by the next run), with the shapes real logs have: a few thousand users,
a long-tailed catalogue, UTF-8 artist names, missing MBIDs, and one row in ten thousand broken in a
way the rules refuse (so the quarantine path is exercised too). Each import runs in its own process,
so the peak RSS printed is that import's own. The figures are printed, not asserted; the target is
at least 1M rows/s on this machine (2 cores) for both formats.

The canonical CSV is then imported again gzip- and zstd-compressed (``listens.csv.gz``, ``listens.csv.zst``):
a compressed log is decompressed as a stream, so its peak RSS should stay near the plain file's; the rows/s
printed beside the plain file's show what the decompression costs.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
START = 1_230_768_000  # 2009-01-01 UTC
BROKEN_EVERY = 10_000


def columns(rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 5_000, rows)
    songs = np.minimum(rng.zipf(1.3, rows), 2_000_000) - 1
    ts = START + np.sort(rng.integers(0, 4 * 365 * 86_400, rows))
    return {"users": users, "songs": songs, "ts": ts}


def write_lastfm(path: Path, rows: int, seed: int, batch: int = 2_000_000) -> None:
    with open(path, "wb") as out:
        for start in range(0, rows, batch):
            c = columns(min(batch, rows - start), seed + start)
            song = pl.Series(c["songs"])
            frame = pl.DataFrame({
                "user": "user_" + pl.Series(c["users"]).cast(pl.String).str.zfill(6),
                "ts": pl.from_epoch(pl.Series(c["ts"]), "s").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "artid": pl.Series(c["songs"] // 10).cast(pl.String).str.zfill(8) + "-aaaa-bbbb-cccc-000000000000",
                "artname": "Artïst " + pl.Series(c["songs"] // 10).cast(pl.String),
                "traid": pl.select(pl.when(song % 7 == 0).then(pl.lit("")).otherwise(song.cast(pl.String).str.zfill(8) + "-dddd-eeee-ffff-000000000000")).to_series(),
                "traname": "Sóng " + song.cast(pl.String),
            })
            lines = frame.select(pl.concat_str(pl.all(), separator="\t").alias("line"))["line"]
            broken = np.arange(lines.len()) % BROKEN_EVERY == 17
            lines = pl.select(pl.when(pl.Series(broken)).then(pl.lit("user_x\tnot-a-time\t\tA\t\tT")).otherwise(lines)).to_series()
            out.write(("\n".join(lines.to_list()) + "\n").encode())


def write_canonical(path: Path, rows: int, seed: int, batch: int = 2_000_000) -> None:
    with open(path, "wb") as out:
        out.write(b"timestamp,user,device,song,artist,genre,language\n")
        for start in range(0, rows, batch):
            c = columns(min(batch, rows - start), seed + start)
            song = pl.Series(c["songs"])
            frame = pl.DataFrame({
                "timestamp": pl.from_epoch(pl.Series(c["ts"]), "s").dt.strftime("%Y-%m-%d %H:%M:%S"),
                "user": "u" + pl.Series(c["users"]).cast(pl.String),
                "device": pl.Series(c["users"] % 3).replace_strict({0: "mobile", 1: "desktop", 2: "tv"}, return_dtype=pl.String),
                "song": "s" + song.cast(pl.String),
                "artist": "Artïst " + pl.Series(c["songs"] // 10).cast(pl.String),
                "genre": "g" + pl.Series(c["songs"] % 12).cast(pl.String),
                "language": pl.Series(c["songs"] % 5).replace_strict({0: "en", 1: "zh", 2: "ja", 3: "ko", 4: "es"}, return_dtype=pl.String),
            })
            lines = frame.select(pl.concat_str(pl.all(), separator=",").alias("line"))["line"]
            broken = np.arange(lines.len()) % BROKEN_EVERY == 17
            lines = pl.select(pl.when(pl.Series(broken)).then(pl.lit("2016-13-01 00:00:00,u1,,s1,,,")).otherwise(lines)).to_series()
            out.write(("\n".join(lines.to_list()) + "\n").encode())


CHILD = """
import json, resource, sys, time
from pathlib import Path
from pipeline.contract import StageFiles
from pipeline.ingest.importers import import_log
path, fmt, out = sys.argv[1], sys.argv[2], StageFiles("raw_events", sys.argv[3])
t = time.perf_counter()
report = import_log(path, fmt, out["events"], out["quarantine"])
seconds = time.perf_counter() - t
print(json.dumps({"read": report.read, "accepted": report.accepted, "quarantined": report.quarantined,
                  "seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(path: Path, fmt: str, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), fmt, str(out)], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--dir", type=Path, default=ROOT / ".data" / "bench-import")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"import of a generated {args.rows:,}-row log; target >= 1M rows/s (2 cores)")
    for fmt, name, write in (("lastfm-1k", "userid-timestamp-artid-artname-traid-traname.tsv", write_lastfm),
                             ("canonical", "listens.csv", write_canonical)):
        path = args.dir / f"{args.rows}" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            write(path.with_suffix(".partial"), args.rows, args.seed)  # a killed write is never taken for a log
            path.with_suffix(".partial").rename(path)
            print(f"  wrote {path} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t:.0f} s")
        m = measure(path, fmt, args.dir / f"{args.rows}" / f"out-{fmt}")
        show(fmt, m)
    for suffix in (".gz", ".zst"):  # the CSV again, compressed
        packed = path.with_name(path.name + suffix)
        if not packed.exists():
            compress(path, packed)
        show(f"csv{suffix}", measure(packed, "canonical", args.dir / f"{args.rows}" / f"out-{suffix[1:]}"))


def show(label: str, m: dict) -> None:
    assert m["read"] == m["accepted"] + m["quarantined"], m
    print(f"  {label:10s} read {m['read']:>12,}  accepted {m['accepted']:>12,}  quarantined {m['quarantined']:>8,}  "
          f"{m['seconds']:7.1f} s  {m['read'] / m['seconds'] / 1e6:5.2f} M rows/s  peak RSS {m['rss_mb']:,.0f} MB")


def compress(path: Path, packed: Path) -> None:
    """gzip (level 1) or zstd (level 3) of ``path``, streamed."""
    import gzip
    import shutil

    import zstandard

    partial = packed.with_name(packed.name + ".partial")
    with open(path, "rb") as src, open(partial, "wb") as raw:
        out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) if packed.suffix == ".gz" else \
            zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
        with out:
            shutil.copyfileobj(src, out, 1 << 22)
    partial.rename(packed)


if __name__ == "__main__":
    main()
