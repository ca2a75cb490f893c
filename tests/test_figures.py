"""The inline figures of the Dagster UI: legible (80 dpi) and small (a palette PNG)."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline.analysis.charts import THUMBNAIL_DPI, thumbnail_markdown, thumbnail_png  # noqa: E402


def test_thumbnails_are_80_dpi_palette_pngs():
    fig, ax = plt.subplots(figsize=(10, 4))
    rng = np.random.default_rng(0)
    for i in range(8):
        ax.scatter(*rng.normal(size=(2, 500)), s=3, label=f"group {i}")
    ax.legend()
    png = thumbnail_png(fig)
    image = Image.open(io.BytesIO(png))
    assert image.size == (10 * THUMBNAIL_DPI, 4 * THUMBNAIL_DPI) and image.mode == "P"
    full = io.BytesIO()
    fig.savefig(full, format="png", dpi=THUMBNAIL_DPI)
    assert len(png) < len(full.getvalue())  # the palette keeps run metadata small
    assert thumbnail_markdown(fig).startswith("![figure](data:image/png;base64,")
    plt.close(fig)
