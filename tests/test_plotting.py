import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from clustutils import plotting  # noqa: E402


def test_image_grid_tiles_images_with_row_titles():
    plotting.use_style()
    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8), dtype=np.uint8)
    ax = plotting.image_grid(images, ncols=5, titles=["a", "b", "c"])
    canvas = ax.get_images()[0].get_array()
    assert canvas.shape == (3 * 9 - 1, 5 * 9 - 1)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    plt.close("all")


def test_image_grid_rejects_bad_shapes():
    with pytest.raises(ValueError, match="expected"):
        plotting.image_grid(np.zeros((4, 4)))


def test_embedding_scatter_labels_axes_and_legend():
    z = np.random.default_rng(0).normal(size=(60, 5))
    ax = plotting.embedding_scatter(z, np.arange(60) % 3, method="pca")
    assert ax.get_xlabel() == "PC 1" and ax.get_ylabel() == "PC 2"
    assert len(ax.get_legend().get_texts()) == 3
    assert plotting.embed_2d(z, "tsne").shape == (60, 2)
    with pytest.raises(ValueError, match="method"):
        plotting.embed_2d(z, "umap3")
    plt.close("all")


def test_figure_saver_writes_png_and_pdf_only_when_enabled(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    assert plotting.FigureSaver("00_x", enabled=False, root=tmp_path).save(fig, "line") == []
    paths = plotting.FigureSaver("00_x", enabled=True, root=tmp_path).save(fig, "line")
    assert [p.name for p in paths] == ["line.png", "line.pdf"] and all(p.stat().st_size > 0 for p in paths)
    assert paths[0].parent == tmp_path / "figures" / "00_x"
    plt.close("all")
