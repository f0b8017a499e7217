"""Root conftest: the real-server fixtures come from the testkit distribution."""

pytest_plugins = ["bijmantra.testkit.pytest_plugin"]
