"""The interactive explorer the paper proposes: one self-contained HTML file (no CDN, works offline).

Pick a user: see the user, their sessions and their songs in the 2-D space; colour the sessions by
device or hour of day; click a session and exactly its songs are highlighted (and listed); hover a
song for its title, artist, language and genre. A songs view colours every song by language, genre
or popularity level.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.analysis.egonet import EGO_USERS, ego_networks, write_graphml
from pipeline.analysis.views import SpaceView, song_table, space_view
from pipeline.contract import StageFiles
from pipeline.io import atomic_path


def explorer_data(view: SpaceView, songs: pl.DataFrame, max_users: int = 300, max_background_songs: int = 5000, seed: int = 0) -> dict:
    """The data the page draws. ``songs``: song_id, artist, language, genre, title, popularity (level 1-5)."""
    users = view.sessions["user_id"].unique(maintain_order=True).to_list()
    if len(users) > max_users:
        users = sorted(np.random.default_rng(seed).choice(users, size=max_users, replace=False).tolist())
    sessions = view.sessions.filter(pl.col("user_id").is_in(users))
    needed = {s for group in sessions["songs"].to_list() for s in group}
    catalogue = songs.filter(pl.col("song_id").is_in(list(view.song_vertex)))
    background = catalogue["song_id"].to_list()
    if len(background) > max_background_songs:
        background = np.random.default_rng(seed).choice(background, size=max_background_songs, replace=False).tolist()
    keep = catalogue.filter(pl.col("song_id").is_in(list(needed | set(background))))
    index = {s: i for i, s in enumerate(keep["song_id"].to_list())}
    xy = view.coords[[view.song_vertex[s] for s in keep["song_id"].to_list()]]

    def col(name):
        return keep[name].fill_null("unknown").cast(pl.String).to_list() if name in keep.columns else ["unknown"] * keep.height

    data = {
        "songs": {
            "id": keep["song_id"].to_list(), "x": np.round(xy[:, 0], 4).tolist(), "y": np.round(xy[:, 1], 4).tolist(),
            "title": col("title"), "artist": col("artist"), "language": col("language"), "genre": col("genre"),
            "popularity": keep["popularity"].to_list() if "popularity" in keep.columns else [1] * keep.height,
        },
        "users": {},
    }
    for (user,), s in sessions.partition_by("user_id", as_dict=True, maintain_order=True).items():
        u = view.coords[view.user_vertex[user]]
        sxy = view.coords[[view.session_vertex[k] for k in s["session_id"].to_list()]]
        data["users"][user] = {
            "x": round(float(u[0]), 4), "y": round(float(u[1]), 4),
            "sessions": [
                {"id": sid, "x": round(float(p[0]), 4), "y": round(float(p[1]), 4), "device": dev or "unknown",
                 "hour": int(start.hour), "start": start.strftime("%Y-%m-%d %H:%M"), "songs": [index[x] for x in songs_]}
                for sid, p, dev, start, songs_ in zip(s["session_id"].to_list(), sxy, s["device"].to_list(), s["start"].to_list(),
                                                      s["songs"].to_list())
            ],
        }
    return data


def write_explorer(data: dict, path: Path | str, title: str = "Listening behaviour explorer") -> Path:
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    html = _TEMPLATE.replace("__TITLE__", title).replace("__DATA__", payload)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(path)


_TEMPLATE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
 body{font:14px system-ui,sans-serif;margin:0;display:flex;height:100vh}
 #side{width:300px;padding:12px;overflow:auto;border-right:1px solid #ddd}
 #main{flex:1;position:relative}
 svg{width:100%;height:100%;background:#fafafa}
 label{display:block;margin:8px 0 2px;font-weight:600}
 select{width:100%}
 .song{fill:#bbb;opacity:.55}
 .song.bg{fill:#ddd;opacity:.4}
 .song.dim{opacity:.12}
 circle{vector-effect:non-scaling-stroke}
 .song.highlight{fill:#d62728;opacity:1;stroke:#000;stroke-width:1px}
 .session{stroke:#fff;stroke-width:.5px;cursor:pointer}
 .session.selected{stroke:#000;stroke-width:2.5px}
 .user{fill:red}
 #tip{position:absolute;pointer-events:none;background:#fff;border:1px solid #999;padding:4px 6px;font-size:12px;display:none}
 #legend div{font-size:12px}#legend span{display:inline-block;width:10px;height:10px;margin-right:4px}
 #songlist{font-size:12px;padding-left:18px}
</style></head><body>
<div id="side">
 <h3 style="margin-top:0">__TITLE__</h3>
 <label for="view">View</label>
 <select id="view"><option value="user">a user, their sessions and songs</option><option value="songs">all songs</option></select>
 <label for="user">User</label><select id="user"></select>
 <label for="sessioncolour">Colour sessions by</label>
 <select id="sessioncolour"><option value="device">device</option><option value="hour">hour of day</option></select>
 <label for="songcolour">Colour songs by (songs view)</label>
 <select id="songcolour"><option value="language">language</option><option value="genre">genre</option><option value="popularity">popularity</option></select>
 <div id="legend"></div>
 <p id="info">Click a session to highlight its songs.</p>
 <ol id="songlist"></ol>
</div>
<div id="main"><svg id="plot" xmlns="http://www.w3.org/2000/svg"></svg><div id="tip"></div></div>
<script>
const DATA = __DATA__;
const S = DATA.songs, NS = "http://www.w3.org/2000/svg";
const svg = document.getElementById("plot"), tip = document.getElementById("tip");
const PALETTE = ["#1f77b4","#ff7f0e","#2ca02c","#d62728","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf"];
const state = {selected: null};
const users = Object.keys(DATA.users).sort();
const userSel = document.getElementById("user");
users.forEach(u => { const o = document.createElement("option"); o.value = u; o.textContent = u; userSel.appendChild(o); });
const xs = S.x.slice(), ys = S.y.slice();
for (const u of users) { const d = DATA.users[u]; xs.push(d.x); ys.push(d.y); d.sessions.forEach(s => { xs.push(s.x); ys.push(s.y); }); }
const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
const span = Math.max(maxX - minX, maxY - minY) || 1, R = span / 300;
svg.setAttribute("viewBox", `${minX - span * .03} ${-maxY - span * .03} ${maxX - minX + span * .06} ${maxY - minY + span * .06}`);
function el(tag, attrs) { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; }
function hourColour(h) { return `hsl(${Math.round(h / 24 * 360)},70%,45%)`; }
function categorical(values) { const c = {}; [...new Set(values)].sort().forEach((v, i) => c[v] = PALETTE[i % PALETTE.length]); return c; }
function legend(map) {
  const box = document.getElementById("legend"); box.innerHTML = "";
  for (const k in map) { const d = document.createElement("div"); d.innerHTML = `<span style="background:${map[k]}"></span>${k}`; box.appendChild(d); }
}
function showTip(ev, text) { tip.style.display = "block"; tip.textContent = text; tip.style.left = (ev.offsetX + 12) + "px"; tip.style.top = (ev.offsetY + 12) + "px"; }
function songDot(i, cls) {
  const c = el("circle", {cx: S.x[i], cy: -S.y[i], r: R, class: "song " + cls, "data-song": i});
  const text = `${S.title[i]} — ${S.artist[i]} (${S.language[i]}, ${S.genre[i]})`;
  c.addEventListener("mousemove", ev => showTip(ev, text)); c.addEventListener("mouseleave", () => tip.style.display = "none");
  const t = el("title", {}); t.textContent = text; c.appendChild(t);
  return c;
}
function drawUser() {
  const u = DATA.users[userSel.value]; if (!u) return;
  const by = document.getElementById("sessioncolour").value;
  const mine = new Set(); u.sessions.forEach(s => s.songs.forEach(i => mine.add(i)));
  const g = el("g", {});
  S.id.forEach((_, i) => { if (!mine.has(i)) g.appendChild(songDot(i, "bg")); });
  mine.forEach(i => g.appendChild(songDot(i, "mine")));
  const colours = by === "device" ? categorical(u.sessions.map(s => s.device)) : null;
  legend(colours || {"00h": hourColour(0), "06h": hourColour(6), "12h": hourColour(12), "18h": hourColour(18)});
  u.sessions.forEach(s => {
    const c = el("circle", {cx: s.x, cy: -s.y, r: R * 2.2, class: "session", "data-session": s.id,
      fill: by === "device" ? colours[s.device] : hourColour(s.hour)});
    const text = `session ${s.id}: ${s.start} UTC, ${s.device}, ${s.songs.length} songs`;
    c.addEventListener("mousemove", ev => showTip(ev, text)); c.addEventListener("mouseleave", () => tip.style.display = "none");
    c.addEventListener("click", () => selectSession(s));
    g.appendChild(c);
  });
  g.appendChild(el("circle", {cx: u.x, cy: -u.y, r: R * 4, class: "user", "data-user": userSel.value}));
  svg.replaceChildren(g);
}
function selectSession(s) {
  state.selected = s.id;
  const on = new Set(s.songs);
  svg.querySelectorAll(".session").forEach(c => c.classList.toggle("selected", c.dataset.session === s.id));
  svg.querySelectorAll(".song").forEach(c => {
    const hit = on.has(+c.dataset.song); c.classList.toggle("highlight", hit); c.classList.toggle("dim", !hit);
    c.setAttribute("r", hit ? R * 2 : R);
    if (hit) c.parentNode.appendChild(c);
  });
  document.getElementById("info").textContent = `Session ${s.id} (${s.start} UTC, ${s.device}): ${s.songs.length} songs`;
  const list = document.getElementById("songlist"); list.innerHTML = "";
  s.songs.forEach(i => { const li = document.createElement("li"); li.textContent = `${S.title[i]} — ${S.artist[i]}`; list.appendChild(li); });
}
function drawSongs() {
  const by = document.getElementById("songcolour").value;
  const values = S[by].map(String), colours = categorical(values);
  if (by === "popularity") ["1","2","3","4","5"].forEach((k, i) => colours[k] = ["#440154","#3b528b","#21918c","#5ec962","#fde725"][i]);
  legend(colours);
  const order = S.id.map((_, i) => i).sort((a, b) => S.popularity[a] - S.popularity[b]);
  const g = el("g", {});
  order.forEach(i => { const c = songDot(i, ""); c.style.fill = colours[values[i]]; c.style.opacity = .8; g.appendChild(c); });
  svg.replaceChildren(g);
  document.getElementById("songlist").innerHTML = ""; document.getElementById("info").textContent = `${S.id.length} songs`;
}
function draw() { state.selected = null; document.getElementById("songlist").innerHTML = "";
  document.getElementById("info").textContent = "Click a session to highlight its songs.";
  document.getElementById("view").value === "user" ? drawUser() : drawSongs(); }
["view", "user", "sessioncolour", "songcolour"].forEach(id => document.getElementById(id).addEventListener("change", draw));
draw();
</script></body></html>
"""


def explorer(upstream: Mapping[str, StageFiles], out: StageFiles, log=None, *, seed: int = 0) -> dict:
    """The ``explorer`` stage: the offline page of the 2-D space and the first users' ego networks (GraphML); returns
    their paths and sizes."""
    songs = song_table(upstream)
    view = space_view(upstream, "embedding_uss_2d")
    data = explorer_data(view, songs, seed=seed)
    path = write_explorer(data, out["html"])
    egonets = write_graphml(ego_networks(view, songs, list(data["users"])[:EGO_USERS]), out["egonets"])
    return {"html": str(path), "egonets": str(egonets), "users": len(data["users"]), "songs": len(data["songs"]["id"]),
            "size (MB)": round(path.stat().st_size / 1e6, 2)}
