"""The layers hold: the science in pipeline/ knows nothing of Dagster, the resources or the assets; the resources know
nothing of the assets; and an asset module holds no stage logic (it runs a pipeline stage and reports it), which shows
in what it imports: no array or table library, only Dagster, the pipeline's stages and helpers, and the resources."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_LIBRARIES = {"numpy", "polars", "pandas", "scipy", "pyarrow", "gensim", "implicit", "networkx", "sklearn", "numba", "matplotlib"}
# Where an asset module may touch a table: turning one into the UI's Markdown.
TABLE_FORMATTING = {"assets/_meta.py"}


def imported(path: Path) -> set[str]:
    """The top-level packages a module imports (at any depth of its code)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_pipeline_knows_nothing_of_dagster_the_resources_or_the_assets():
    offenders = {str(p.relative_to(ROOT)): sorted(imported(p) & {"dagster", "dagster_pipes", "assets", "resources", "paper_run"}) for p in modules("pipeline")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_resources_know_nothing_of_the_assets():
    offenders = {str(p.relative_to(ROOT)): sorted(imported(p) & {"assets", "paper_run"}) for p in modules("resources")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_asset_module_holds_stage_logic():
    offenders = {str(p.relative_to(ROOT)): sorted(imported(p) & DATA_LIBRARIES) for p in modules("assets")
                 if str(p.relative_to(ROOT)) not in TABLE_FORMATTING}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_guard_sees_an_import_anywhere_in_a_module(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    import numpy as np\n    from polars import col\n    from . import sibling\n")
    assert imported(module) == {"os", "numpy", "polars"}
