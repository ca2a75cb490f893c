"""The explorer in a real headless browser (Debian's Chromium, driven by Playwright)."""

import os
import shutil

import numpy as np
import polars as pl
import pytest
from helpers import events

from pipeline.analysis.explorer import explorer_data, write_explorer
from pipeline.analysis.plots import SpaceView
from pipeline.network.graph import user_session_song_graph
from pipeline.sessions.sessions import sessionize

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
# Skipped on a machine without Chromium; never in CI, where .ci/run installs it.
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="no Chromium: apt-get install chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    log = events([
        (0, "u1", "mobile", "a"), (3, "u1", "mobile", "b"), (6, "u1", "mobile", "c"),
        (60, "u1", "desktop", "c"), (63, "u1", "desktop", "d"),
        (120, "u1", "mobile", "e"), (123, "u1", "mobile", "a"),
        (0, "u2", "tv", "f"), (3, "u2", "tv", "g"),
    ])
    train = sessionize(log).collect().with_columns(pl.lit("A").alias("artist"), pl.lit("Pop").alias("genre"), pl.lit("English").alias("language"))
    graph = user_session_song_graph(train)
    coords = np.random.default_rng(0).normal(size=(graph.n_vertices, 2))
    view = SpaceView(graph, coords, train)
    songs = train.group_by("song_id").agg(pl.col("artist", "genre", "language").first()).with_columns(
        pl.concat_str(pl.lit("Title "), pl.col("song_id")).alias("title"), pl.lit(3).alias("popularity"))
    path = write_explorer(explorer_data(view, songs), tmp_path_factory.mktemp("explorer") / "explorer.html")
    expected = {sid: set(s) for sid, s in zip(view.sessions["session_id"].to_list(), view.sessions["songs"].to_list())}
    return path, expected


def test_clicking_a_session_highlights_exactly_its_songs(page_file):
    from playwright import sync_api as playwright

    path, expected = page_file
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.select_option("#user", "u1")
        sessions = page.locator("circle.session")
        assert sessions.count() == 3  # u1's three sessions
        for i in range(sessions.count()):
            sid = sessions.nth(i).get_attribute("data-session")
            sessions.nth(i).dispatch_event("click")
            highlighted = page.eval_on_selector_all("circle.song.highlight", "els => els.map(e => e.dataset.song)")
            ids = page.evaluate("ids => ids.map(i => DATA.songs.id[+i])", highlighted)
            assert set(ids) == expected[sid], sid
            assert page.locator("#songlist li").count() == len(expected[sid])
            assert page.locator(f'circle.session.selected[data-session="{sid}"]').count() == 1
        tip = page.locator("circle.song").first.locator("title").text_content()
        assert tip.startswith("Title ") and "English" in tip and "Pop" in tip
        page.select_option("#sessioncolour", "hour")
        assert page.locator("circle.session").count() == 3
        page.select_option("#view", "songs")
        assert page.locator("circle.song").count() == 7 and page.locator("#legend div").count() >= 1
        browser.close()
    assert errors == []
