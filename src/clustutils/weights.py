"""Hand trained weights to a class: ``clustutils weights export`` / ``import``.

An archive is a ``.tar.gz`` of the weight cache (:func:`clustutils.env.cache_dir`) with a
``manifest.json``: the commit and profile it was trained with, every chapter's settings in that
profile, and the SHA-256 of every file.  Import checks the checksums and refuses an archive whose
settings differ from the code it is imported into (the cached weights would then not be the ones
the notebooks ask for); it never replaces a different file of the same name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib
import io
import json
import tarfile
from pathlib import Path

from .results import git_commit
from .settings import PROFILES, Budget
from .env import cache_dir

__all__ = ["CHAPTER_MODULES", "chapter_settings", "export_weights", "import_weights", "WeightsArchiveError"]

#: The modules holding a chapter's ``BUDGET`` (settings as data).
CHAPTER_MODULES = ("ch01_onestage", "ch02_energy", "ch03_gar", "ch04_cm", "ch05_histo")  # in clustutils.papers
MANIFEST = "manifest.json"


class WeightsArchiveError(RuntimeError):
    """A weights archive that cannot be imported: corrupt, or trained with other settings."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def budgets() -> dict:
    """Every :class:`~clustutils.settings.Budget` of the paper modules, keyed ``module`` (for ``BUDGET``) or
    ``module.NAME`` (a chapter's second budget, e.g. ``ch01_onestage.LOC_BUDGET``)."""
    out = {}
    for name in CHAPTER_MODULES:
        module = importlib.import_module(f"clustutils.papers.{name}")
        for attr, value in sorted(vars(module).items()):
            if isinstance(value, Budget):
                out[name if attr == "BUDGET" else f"{name}.{attr}"] = value
    return out


def chapter_settings(profile: str) -> dict:
    """Every chapter's settings in ``profile``, as JSON-compatible dicts keyed as :func:`budgets`."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    return {name: json.loads(json.dumps(dataclasses.asdict(budget.settings(profile)), default=str))
            for name, budget in budgets().items()}


def export_weights(archive: str | Path, profile: str, cache: Path | None = None) -> dict:
    """Write the weight cache to ``archive`` with its manifest; return the manifest."""
    cache = Path(cache or cache_dir())
    files = sorted(cache.glob("*.pt")) if cache.is_dir() else []
    if not files:
        raise WeightsArchiveError(f"no cached weights in {cache}: run the chapters first (their trained models are cached there)")
    manifest = {"format": 1, "commit": git_commit(), "profile": profile,
                "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "settings": chapter_settings(profile),
                "files": {f.name: _sha256(f.read_bytes()) for f in files}}
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        data = json.dumps(manifest, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for f in files:
            tar.add(f, arcname=f.name)
    return manifest


def import_weights(archive: str | Path, cache: Path | None = None) -> list[str]:
    """Check ``archive`` against this code and copy its weights into the cache; return the names copied."""
    cache = Path(cache or cache_dir())
    with tarfile.open(archive, "r:gz") as tar:
        try:
            manifest = json.load(tar.extractfile(MANIFEST))
        except KeyError:
            raise WeightsArchiveError(f"{archive} has no {MANIFEST}: not a clustutils weights archive") from None
        mismatch = []
        here = chapter_settings(manifest["profile"])
        for chapter, settings in manifest["settings"].items():
            for field, value in settings.items():
                if here.get(chapter, {}).get(field) != value:
                    mismatch.append(f"{chapter}.{field}: archive {value!r}, this code {here.get(chapter, {}).get(field)!r}")
        if mismatch:
            raise WeightsArchiveError(f"{archive} was trained (commit {manifest['commit']}, profile {manifest['profile']}) "
                                      "with other settings than this code's:\n  " + "\n  ".join(mismatch))
        contents = {}
        for name, digest in manifest["files"].items():
            member = tar.extractfile(name) if name in tar.getnames() else None
            data = member.read() if member else b""
            if _sha256(data) != digest:
                raise WeightsArchiveError(f"{archive}: {name} is missing or corrupt (checksum mismatch)")
            contents[name] = data
    cache.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, data in contents.items():
        target = cache / name
        if target.is_file():
            if target.read_bytes() != data:
                raise WeightsArchiveError(f"{target} exists with other contents; move it away to import this archive")
            continue
        target.write_bytes(data)
        copied.append(name)
    return copied
