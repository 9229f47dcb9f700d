"""Network tests: on a failure, attach the logs of the daemons in the test network."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.network.topology import Topology

_LOG_TAIL = 4000  # characters of each daemon's log


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for topo in Topology.open_instances():
            for daemon in topo.daemons:
                report.sections.append((f"log of {daemon.label}", daemon.output()[-_LOG_TAIL:]))
    return report
