"""Every environment variable the package reads, and the folders they resolve to.

==========================  =====================================================================
``CLUSTUTILS_DATA``         the data root (:func:`data_root`); default ``~/.cache/clustutils/data``
``CLUSTUTILS_OFFLINE``      set: loaders never download
``CLUSTUTILS_CACHE``        the weight cache (:func:`cache_dir`); default ``~/.cache/clustutils/weights``
``CLUSTUTILS_DEVICE``       ``cpu`` / ``cuda``; default CUDA when present
``CLUSTUTILS_PROFILE``      a notebook's profile when its ``profile`` parameter is not given; default ``cpu``
``CLUSTUTILS_ROOT``         where notebooks record results; default the book checkout found upwards
``CLUSTUTILS_COMMIT``       the commit to record where there is no ``.git`` (the GPU kit sets it)
``CLUSTUTILS_COMPILE``      ``1``: every training step compiled (:func:`clustutils.train.fit`'s ``compile``)
``CLUSTUTILS_MAX_STEPS``    a rehearsal (``clustutils run --rehearse``): every training loop stops after this
                            many steps, and notebooks record nothing in the book's results
==========================  =====================================================================

``~/.cache`` is ``$XDG_CACHE_HOME`` when that is set.  This module is the only one that reads them.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA", "OFFLINE", "CACHE", "DEVICE", "PROFILE", "ROOT", "COMMIT", "COMPILE", "MAX_STEPS", "get", "rehearsal_steps", "data_root", "cache_dir"]

DATA = "CLUSTUTILS_DATA"
OFFLINE = "CLUSTUTILS_OFFLINE"
CACHE = "CLUSTUTILS_CACHE"
DEVICE = "CLUSTUTILS_DEVICE"
PROFILE = "CLUSTUTILS_PROFILE"
ROOT = "CLUSTUTILS_ROOT"
COMMIT = "CLUSTUTILS_COMMIT"
COMPILE = "CLUSTUTILS_COMPILE"
MAX_STEPS = "CLUSTUTILS_MAX_STEPS"


def get(name: str) -> str | None:
    """The value of one of this module's variables, ``None`` when unset or empty."""
    if name not in (DATA, OFFLINE, CACHE, DEVICE, PROFILE, ROOT, COMMIT, COMPILE, MAX_STEPS):
        raise KeyError(f"{name} is not a clustutils environment variable")
    return os.environ.get(name) or None


def rehearsal_steps() -> int | None:
    """The step cap of a rehearsal (``$CLUSTUTILS_MAX_STEPS``), ``None`` outside one; a value that is not a
    positive integer raises ``ValueError``."""
    value = get(MAX_STEPS)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"${MAX_STEPS} must be a positive number of steps, got {value!r}")
    return int(value)


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clustutils"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$CLUSTUTILS_DATA``, else ``~/.cache/clustutils/data``.

    This is the one default of the package, the notebooks and ``make test``.  A root that exists but
    is a file raises :class:`NotADirectoryError` naming where the path came from.
    """
    if root is not None:
        path, origin = Path(root).expanduser(), "root"
    elif get(DATA):
        path, origin = Path(get(DATA)).expanduser(), f"${DATA}"
    else:
        path, origin = _user_cache() / "data", "the default"
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"the data root {path} (from {origin}) is a file; it must be a folder holding the datasets")
    return path


def cache_dir() -> Path:
    """Folder of cached weights: ``$CLUSTUTILS_CACHE`` or ``~/.cache/clustutils/weights``."""
    return Path(get(CACHE)).expanduser() if get(CACHE) else _user_cache() / "weights"
