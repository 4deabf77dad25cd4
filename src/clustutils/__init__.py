"""clustutils: the small helper package shared by the clustbook notebooks.

Modules: :mod:`~clustutils.data` (dataset loaders), :mod:`~clustutils.metrics`
(clustering and segmentation metrics), :mod:`~clustutils.kmeans` (k-means with
restarts), :mod:`~clustutils.train` (devices, seeds, training loop, weight cache),
:mod:`~clustutils.plotting` (figure style and plots), :mod:`~clustutils.results`
(results registry), :mod:`~clustutils.notebook` (notebook set-up) and the
``clustutils`` command line.
"""

__version__ = "0.1.0"
