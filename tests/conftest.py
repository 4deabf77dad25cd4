"""Shared fixtures: the offline data copy beside the checkout (``../shared/data``)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CLUSTUTILS_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """The shared data root; tests that need it skip with the reason when it is absent."""
    if not (SHARED_DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set CLUSTUTILS_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Keep tests away from the user's caches and results: every test gets its own folders."""
    monkeypatch.setenv("CLUSTUTILS_CACHE", str(tmp_path / "weights"))
    monkeypatch.delenv("CLUSTUTILS_DATA", raising=False)
    monkeypatch.delenv("CLUSTUTILS_ROOT", raising=False)


@pytest.fixture
def double_precision():
    """Exact comparisons need float64; restore the default dtype afterwards for the other tests."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
