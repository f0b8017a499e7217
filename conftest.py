"""Root conftest: the real-server fixtures come from the testkit distribution."""

import pytest

pytest_plugins = ["bijmantra.testkit.pytest_plugin"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last. Playwright's sync API keeps an event loop running in this
    thread for as long as its session-scoped browser is open, and no asyncio test can run
    after it has started (``Runner.run() cannot be called from a running event loop``)."""
    items.sort(key=lambda item: "tests/browser/" in item.path.as_posix())
