"""Shared test set-up: deterministic, single-threaded torch (2-core CI), small defaults."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def pytest_configure(config):
    torch.set_num_threads(1)


def pytest_sessionstart(session):
    # make tests/fakedata.py importable as `fakedata` (tests run in importlib mode)
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
