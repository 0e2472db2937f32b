"""A local, stateful emulator of the Jira and Salesforce REST subsets trackerbridge uses.

    from trackerbridge.sandbox import Sandbox, SandboxConfig
    with Sandbox(SandboxConfig(jira_flavor="datacenter")) as sb:
        print(sb.info.jira_url, sb.info.ca_bundle)

Tests use the `sandbox` fixture from `trackerbridge.sandbox.pytest_plugin`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trackerbridge.sandbox.runner import Sandbox, SandboxConfig, SandboxInfo

__all__ = ["Sandbox", "SandboxConfig", "SandboxInfo"]


def __getattr__(name: str) -> Any:
    """Import the runner lazily, so the parsers and models load without the server stack."""
    if name in __all__:
        from trackerbridge.sandbox import runner

        return getattr(runner, name)
    raise AttributeError(name)
