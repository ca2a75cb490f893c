"""Compressed and archived exports read as they come: the same events as the plain files, companions listed as
skipped, a broken archive refused naming the file."""

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile

import polars as pl
import pytest
import zstandard
from log_shapes import write_lastfm_1k, write_listenbrainz, write_spotify

from pipeline.ingest.importers import import_log
from pipeline.ingest.inputs import LogFile, log_files
from pipeline.ingest.log_formats import LogInputError

CSV = ("timestamp,user_id,song_id,artist\n2016-01-01T10:00:00Z,u1,s1,Björk\n2016-01-01T10:05:00Z,u1,s2,A\n"
       "not a time,u2,s3,B\n").encode()
PACK = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress, ".zst": zstandard.ZstdCompressor().compress}


def imported(tmp_path, pattern, fmt="auto"):
    out = tmp_path / "out"
    report = import_log(str(pattern), fmt, out / "e.parquet", out / "q.parquet")
    return report, pl.read_parquet(out / "e.parquet"), pl.read_parquet(out / "q.parquet")


@pytest.mark.parametrize("suffix", list(PACK))
@pytest.mark.parametrize("fmt", ["auto", "canonical"])
def test_a_compressed_csv_is_read_as_the_plain_one(tmp_path, suffix, fmt):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "log.csv").write_bytes(CSV)
    packed = tmp_path / f"log.csv{suffix}"
    packed.write_bytes(PACK[suffix](CSV))
    _, want, want_q = imported(tmp_path / "a", tmp_path / "plain" / "log.csv")
    report, got, got_q = imported(tmp_path / "b", packed, fmt)
    assert got.equals(want) and got.height == 2
    assert got_q["file"].to_list() == [str(packed)] and got_q.select("row", "reason").equals(want_q.select("row", "reason"))


def test_a_gzip_file_is_read_as_gzip_whatever_its_name(tmp_path):
    (tmp_path / "log.csv").write_bytes(gzip.compress(CSV))  # no .gz: its first bytes say gzip, which no text starts with
    assert imported(tmp_path, tmp_path / "log.csv")[1].height == 2


def test_a_broken_or_misnamed_compressed_file_is_refused_naming_it(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "log.csv.gz").write_bytes(CSV)
    with pytest.raises(LogInputError, match=r"log.csv.gz \(whole file\): named as gzip-compressed, but its bytes are not gzip"):
        imported(tmp_path, tmp_path / "a" / "log.csv.gz")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "log.csv.gz").write_bytes(gzip.compress(CSV * 50)[:120])  # truncated
    with pytest.raises(LogInputError, match=r"log.csv.gz \(whole file\): cannot be read as gzip"):
        imported(tmp_path, tmp_path / "b" / "log.csv.gz")


def test_a_spotify_export_zip_is_read_member_by_member_and_its_companions_listed(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    write_spotify(export)
    _, want, _ = imported(tmp_path / "plain", export)
    archive = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(export.rglob("*.json")):
            z.write(f, f"Spotify Extended Streaming History/{f.relative_to(export)}")
        z.writestr("Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF-1.4")
        z.writestr("Spotify Extended Streaming History/u/Streaming_History_Video_2020.json", b"[]")
    report, got, _ = imported(tmp_path / "zip", archive)
    assert got.equals(want) and got.height > 1000
    assert report.files_skipped == [str(archive / "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf"),
                                    str(archive / "Spotify Extended Streaming History/u/Streaming_History_Video_2020.json")]
    assert all(name.startswith(str(archive) + "/") for name in report.files)


@pytest.mark.parametrize("mode,suffix", [("w:gz", ".tar.gz"), ("w:xz", ".tar.xz"), ("w", ".tar")])
def test_a_lastfm_1k_tarball_is_read_as_it_comes(tmp_path, mode, suffix):
    folder = tmp_path / "lastfm-dataset-1K"
    folder.mkdir()
    tsv = write_lastfm_1k(folder, users=20)
    (folder / "README.txt").write_text("Last.fm Dataset - 1K users\n")
    (folder / "userid-profile.tsv").write_text("#id\tgender\tage\tcountry\tregistered\nuser_000001\tm\t\tJapan\tAug 13, 2006\n")
    _, want, want_q = imported(tmp_path / "plain", tsv)
    archive = tmp_path / f"lastfm-dataset-1K{suffix}"
    with tarfile.open(archive, mode) as t:
        t.add(folder, "lastfm-dataset-1K")
    report, got, got_q = imported(tmp_path / "tar", archive)
    assert got.equals(want) and got_q.select("row", "reason").equals(want_q.select("row", "reason"))
    assert sorted(report.files_skipped) == [str(archive / "lastfm-dataset-1K/README.txt"),
                                            str(archive / "lastfm-dataset-1K/userid-profile.tsv")]


def test_a_zstd_listenbrainz_dump_and_an_archive_of_only_companions(tmp_path):
    write_listenbrainz(tmp_path)
    data = (tmp_path / "listens.listens").read_bytes()
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "listens.listens.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
    _, want, _ = imported(tmp_path / "plain", tmp_path / "listens.listens")
    assert imported(tmp_path / "zst", tmp_path / "z" / "listens.listens.zst")[1].equals(want)
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as z:
        z.writestr("README.md", "nothing here")
    with pytest.raises(LogInputError, match=r"no log files at .*docs.zip.*README.md"):
        imported(tmp_path / "docs", tmp_path / "docs.zip")


def test_an_archive_inside_an_archive_is_refused(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("log.csv", CSV)
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as z:
        z.writestr("inner.zip", inner.getvalue())
    with pytest.raises(LogInputError, match="an archive inside an archive"):
        log_files([tmp_path / "outer.zip"])


def test_a_log_file_names_itself_and_its_format_without_the_compression(tmp_path):
    f = LogFile(tmp_path / "Streaming_History_Audio_2020.json.gz", compression="gzip")
    assert (f.name, f.suffix, str(f), f.plain) == ("Streaming_History_Audio_2020.json", ".json", str(f.path), False)
    m = LogFile(tmp_path / "a.zip", "dir/log.csv", None, "zip")
    assert (m.name, str(m), m.parent) == ("log.csv", str(tmp_path / "a.zip" / "dir" / "log.csv"), tmp_path / "a.zip" / "dir")
