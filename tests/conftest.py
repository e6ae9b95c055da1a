"""Shared test set-up: deterministic, single-threaded torch (2-core CI), small defaults."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


def pytest_configure(config):
    torch.set_num_threads(1)
