"""pytest fixtures for running trackerbridge (or anything) against the sandbox.

Enable with `pytest_plugins = ["trackerbridge.sandbox.pytest_plugin"]` in a conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from trackerbridge.sandbox.runner import Sandbox, SandboxConfig

# Tests see a fixed "today", so golden outputs do not move with the calendar.
TEST_NOW = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with any `SandboxConfig` options; all are stopped after the test."""
    started: list[Sandbox] = []

    def start(**options: Any) -> Sandbox:
        options.setdefault("clock", TEST_NOW)
        sb = Sandbox(SandboxConfig(**options)).start()
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A Cloud-flavoured sandbox with the default demo organisation, clock pinned to TEST_NOW."""
    return sandbox_factory()


def jira_as_person(sb: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    """A Jira REST call (`path` under /rest/api/2/) as a demo person, not the bot: an edit a sync
    must treat as a person's."""
    person = next(u for u in sb.jira_data.users.values() if "bot" not in u.email)
    login = person.email if sb.config.jira_flavor == "cloud" else person.name  # Data Center signs in by username
    return requests.request(
        method,
        f"{sb.info.jira_url}/rest/api/2/{path}",
        auth=(login, sb.info.jira_api_token),
        verify=sb.info.ca_bundle,
        timeout=10,
        **kwargs,
    )
