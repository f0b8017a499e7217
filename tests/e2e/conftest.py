"""One stack for the end-to-end modules that only add data of their own to the demo
organization (names, users and organizations each makes itself) and read nothing else:
starting it once spares each of them a stack's start-up (servers, seed, four services).

A module keeps a stack of its own when it configures or restarts the services or servers,
reads a figure of the whole organization or process (memory, rate limits, the audit trail)
or needs the BrAPI test data; such a module defines its own ``stack`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bijmantra.devstack.stack import DevStack, running_stack


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("shared-stack")) as stack:
        yield stack
