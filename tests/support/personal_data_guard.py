"""pytest plugin: every test runs under a personal-data guard.

Issue 4's acceptance, checked on the whole suite: seeded personal data appears in no log line,
no error body and no URL. What a test seeds is recorded where people are made (the people
service); what leaves the service is observed at the log renderers and the httpx clients (see
`leak_observers`); at the end of each test, any seeded value seen there fails it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.leak_guard import URL, LeakGuard, describe, guarding
from tests.support.leak_observers import install_observers

# Tests whose point is to put one seeded value on one channel, to prove the service ignores it
# there: (channel, value, why), by test function. Nothing else of theirs is exempt.
ON_PURPOSE: dict[str, list[tuple[str, str, str]]] = {
    "tests.people.test_profile::test_personal_data_never_travels_in_a_url": [
        (URL, "bilal.new@example.org", "sent in a query string to prove it is never read"),
    ],
}


def pytest_configure(config: pytest.Config) -> None:
    install_observers()


@pytest.fixture(autouse=True)
def personal_data_guard(request: pytest.FixtureRequest) -> Iterator[LeakGuard]:
    """The test's guard (autouse, so set up before and torn down after every other fixture of
    the test); a test may seed values it made by other means, or `allow` one on purpose."""
    test = f"{request.node.module.__name__}::{request.node.originalname}"
    with guarding() as guard:
        for channel, value, reason in ON_PURPOSE.get(test, []):
            guard.allow(channel, value, reason=reason)
        yield guard
    leaks = guard.leaks()
    if leaks:
        pytest.fail(describe(leaks), pytrace=False)
