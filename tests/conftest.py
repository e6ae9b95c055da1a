"""Shared test set-up: deterministic, single-threaded torch (2-core CI), small defaults."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def pytest_configure(config):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """birdkit's machine-wide cache (corrupted test sets) goes to a fresh folder per test session."""
    mp = pytest.MonkeyPatch()
    mp.setenv("BIRDKIT_CACHE", str(tmp_path_factory.mktemp("birdkit-cache")))
    yield
    mp.undo()


def pytest_sessionstart(session):
    # make tests/fakedata.py importable as `fakedata` (tests run in importlib mode)
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
