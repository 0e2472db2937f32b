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
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: keys and the demo data
    ca.cert_pem.write_to_path(str(cert))
    key.touch(mode=0o600)
    ca.private_key_pem.write_to_path(str(key))
    return ca


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost", "::1").configure_cert(context)
    return context


_JWT_KEY_CACHE: dict[str, tuple[bytes, bytes]] = {}


def load_or_create_jwt_key(directory: Path) -> tuple[Path, bytes]:
    """An RSA key for the Salesforce JWT bearer flow: the private key file a connector signs with,
    and the public key the sandbox verifies with. One key per process unless a data dir keeps it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = directory / "sandbox-jwt.key"
    if not path.exists():
        if "key" not in _JWT_KEY_CACHE:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            private = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            public = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            _JWT_KEY_CACHE["key"] = (private, public)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: keys and the demo data
        path.touch(mode=0o600)
        path.write_bytes(_JWT_KEY_CACHE["key"][0])
    private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public_pem
