"""A locally generated CA (trustme) and the server certificate it signs for loopback."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


def load_or_create_ca(directory: Path) -> trustme.CA:
    """Reuse the CA kept in `directory` so clients' CA bundles stay valid across restarts."""
    cert, key = directory / "sandbox-ca.pem", directory / "sandbox-ca.key"
    if cert.exists() and key.exists():
        return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
    ca = trustme.CA(organization_name="trackerbridge sandbox")
    directory.mkdir(parents=True, exist_ok=True)
    ca.cert_pem.write_to_path(str(cert))
    key.touch(mode=0o600)
    ca.private_key_pem.write_to_path(str(key))
    return ca


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(context)
    return context
