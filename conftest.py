"""Root conftest: the real-server fixtures come from the testkit distribution."""

import importlib
import os

import pytest

# OpenBLAS's threads wait for one another on every call: on a busy machine (a CI neighbour,
# other sessions) each small matrix product waits for a time slice, and a REML test of
# thousands of them took 96 s instead of 1.5 s. The tests' own process loads it with one
# thread; the processes tests start keep the default (their memory is measured as it runs).
_BLAS_THREADS = "OPENBLAS_NUM_THREADS"
if _BLAS_THREADS not in os.environ:
    os.environ[_BLAS_THREADS] = "1"
    importlib.import_module("numpy")  # OpenBLAS reads the setting once, when numpy loads it
    del os.environ[_BLAS_THREADS]

pytest_plugins = ["bijmantra.testkit.pytest_plugin"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last. Playwright's sync API keeps an event loop running in this
    thread for as long as its session-scoped browser is open, and no asyncio test can run
    after it has started (``Runner.run() cannot be called from a running event loop``)."""
    items.sort(key=lambda item: "tests/browser/" in item.path.as_posix())
