"""Starting and stopping a sandbox: data, services, TLS and the server thread, in one object."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from trackerbridge.sandbox.accounting import Accounting
from trackerbridge.sandbox.bot import BOT_EMAIL
from trackerbridge.sandbox.clock import Clock
from trackerbridge.sandbox.demo import DEFAULT_SEED, DEFAULT_SIZE, DemoSummary, build_demo
from trackerbridge.sandbox.faults import FaultInjector, parse_fault_spec
from trackerbridge.sandbox.jira_api import JiraAuth, JiraService
from trackerbridge.sandbox.jira_model import JiraData
from trackerbridge.sandbox.persistence import Saver, load_snapshot, save_snapshot
from trackerbridge.sandbox.salesforce_api import SalesforceAuth, SalesforceService
from trackerbridge.sandbox.salesforce_model import SalesforceData
from trackerbridge.sandbox.server import LOOPBACK, Admin, SandboxHTTPServer
from trackerbridge.sandbox.tls import load_or_create_ca, load_or_create_jwt_key, server_context

SALESFORCE_TOKEN = "00Dsandbox!sandbox-sf-token"
SALESFORCE_PASSWORD = "sandbox-password"
SALESFORCE_SECURITY_TOKEN = "SandboxSecurityToken"


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    seed: int = DEFAULT_SEED
    size: int = DEFAULT_SIZE
    jira_flavor: str = "cloud"
    latency_ms: int = 0
    faults: str = ""
    data_dir: Path | None = None
    anchor: datetime | None = None  # the demo's "today"; default: now, at midnight UTC
    clock: datetime | None = None  # pin the clock (tests); default: real time
    jira_auth: JiraAuth = field(default_factory=JiraAuth)
    salesforce_token: str = SALESFORCE_TOKEN
    daily_api_limit: int = 1_000_000  # Salesforce's DailyApiRequests; past it, REQUEST_LIMIT_EXCEEDED
    jira_rate_limit: int = 0  # Jira requests per hour, with Cloud's X-RateLimit-* headers; 0: unlimited, no headers
    # A login host apart from the instance (a sandbox org's test.salesforce.com, a My Domain): "localhost"
    # makes the OAuth token endpoint answer only at https://localhost:<port>, the instance staying 127.0.0.1.
    salesforce_login_host: str | None = None

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK:
            raise ValueError(f"the sandbox binds to loopback only (127.0.0.1, ::1, localhost), not {self.host!r}")
        if self.jira_flavor not in ("cloud", "datacenter"):
            raise ValueError(f"unknown Jira flavour {self.jira_flavor!r}; expected cloud or datacenter")
        if self.size < 1:
            raise ValueError("size must be at least 1")
        if self.salesforce_login_host not in (None, *LOOPBACK):
            raise ValueError(f"the Salesforce login host must be a loopback name, not {self.salesforce_login_host!r}")


@dataclass(frozen=True)
class SandboxInfo:
    """What a client needs to connect; credentials here are the sandbox's own, not real secrets."""

    url: str
    jira_url: str
    salesforce_url: str
    ca_bundle: str
    jira_flavor: str
    jira_email: str
    jira_api_token: str
    jira_pat: str
    salesforce_token: str
    salesforce_username: str
    salesforce_password: str
    salesforce_security_token: str
    salesforce_client_id: str
    salesforce_client_secret: str
    salesforce_jwt_key: str  # private key file for the JWT bearer flow
    salesforce_login_url: str = ""  # where password and JWT sign-in go; the instance URL unless configured

    def as_env(self) -> dict[str, str]:
        """Environment variables the shipped sandbox connector files read."""
        return {
            "TB_SANDBOX_JIRA_URL": self.jira_url,
            "TB_SANDBOX_JIRA_EMAIL": self.jira_email,
            "TB_SANDBOX_JIRA_TOKEN": self.jira_api_token,
            "TB_SANDBOX_JIRA_PAT": self.jira_pat,
            "TB_SANDBOX_SF_URL": self.salesforce_url,
            "TB_SANDBOX_SF_LOGIN_URL": self.salesforce_login_url or self.salesforce_url,
            "TB_SANDBOX_SF_TOKEN": self.salesforce_token,
            "TB_SANDBOX_SF_USERNAME": self.salesforce_username,
            "TB_SANDBOX_SF_PASSWORD": self.salesforce_password,
            "TB_SANDBOX_SF_SECURITY_TOKEN": self.salesforce_security_token,
            "TB_SANDBOX_SF_CLIENT_ID": self.salesforce_client_id,
            "TB_SANDBOX_SF_CLIENT_SECRET": self.salesforce_client_secret,
            "TB_SANDBOX_SF_JWT_KEY": self.salesforce_jwt_key,
            "TB_SANDBOX_CA_BUNDLE": self.ca_bundle,
        }


@contextmanager
def sandbox_environment(config: SandboxConfig | None = None) -> Iterator[tuple[Sandbox, dict[str, str]]]:
    """An embedded sandbox and the environment the shipped connector files read, for `--sandbox`."""
    with Sandbox(config or SandboxConfig(port=0)) as sb:
        yield sb, {**os.environ, **sb.info.as_env()}


class Sandbox:
    """A running emulator of Jira and Salesforce on loopback; use as a context manager."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        cfg = self.config
        self._tmp = tempfile.TemporaryDirectory(prefix="tb-sandbox-") if cfg.data_dir is None else None
        self.directory = Path(self._tmp.name) if self._tmp else Path(cfg.data_dir)  # type: ignore[arg-type]
        self.clock = Clock(cfg.clock)
        self.summary: DemoSummary | None = None
        self.jira_data, self.salesforce_data, self.anchor = self._load_or_build()
        self.lock = threading.RLock()
        self.accounting = Accounting()
        rules = parse_fault_spec(cfg.faults)
        if cfg.latency_ms:
            rules += parse_fault_spec(f"latency:ms={cfg.latency_ms}")
        self.faults = FaultInjector(rules, seed=cfg.seed)
        self.jira = JiraService(
            self.jira_data, self.clock, cfg.jira_auth, flavor=cfg.jira_flavor, rate_limit=cfg.jira_rate_limit
        )
        self.salesforce_username = next(
            (u["Username"] for u in self.salesforce_data.records["User"].values() if u.get("Email") == BOT_EMAIL),
            "",
        )
        self.jwt_key, jwt_public = load_or_create_jwt_key(self.directory)
        self.salesforce_auth = SalesforceAuth(
            access_tokens={cfg.salesforce_token},
            users={self.salesforce_username: SALESFORCE_PASSWORD + SALESFORCE_SECURITY_TOKEN},
            jwt_certificate_pem=jwt_public,
        )
        self.salesforce = SalesforceService(
            self.salesforce_data, self.clock, self.salesforce_auth, daily_api_limit=cfg.daily_api_limit
        )
        self.saver = Saver(self.save) if cfg.data_dir is not None else None
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _load_or_build(self) -> tuple[JiraData, SalesforceData, datetime]:
        cfg = self.config
        state = load_snapshot(self.directory) if cfg.data_dir is not None else None
        if state is not None:
            return state["jira"], state["salesforce"], state["anchor"]
        anchor = cfg.anchor or (cfg.clock or datetime.now(timezone.utc)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        demo = build_demo(seed=cfg.seed, size=cfg.size, anchor=anchor)
        self.summary = demo.summary
        return demo.jira, demo.salesforce, anchor

    def save(self) -> None:
        with self.lock:
            save_snapshot(
                self.directory,
                {
                    "jira": self.jira_data,
                    "salesforce": self.salesforce_data,
                    "anchor": self.anchor,
                },
            )

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Sandbox:
        cfg = self.config
        ca = load_or_create_ca(self.directory)
        self.ca_bundle = str(self.directory / "sandbox-ca.pem")
        self._server = SandboxHTTPServer(
            (cfg.host, cfg.port),
            server_context(ca),
            {"jira": self.jira, "salesforce": self.salesforce},
            self.faults,
            self.accounting,
            self.lock,
            Admin(self.accounting, self.faults, self.clock, self.save, self.index),
            self.saver.mark if self.saver else lambda: None,
            self.clock.now,
        )
        host = "[::1]" if cfg.host == "::1" else "127.0.0.1" if cfg.host == "localhost" else cfg.host
        self.url = f"https://{host}:{self._server.server_address[1]}"
        self.jira.base_url = self.url
        self.salesforce.base_url = self.url
        login = cfg.salesforce_login_host
        port = self._server.server_address[1]
        self.login_url = f"https://{'[::1]' if login == '::1' else login}:{port}" if login else self.url
        self.salesforce.login_url = self.login_url if login else ""
        if self.saver:
            self.saver.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.saver:
            self.saver.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until interrupted (the CLI's `serve`)."""
        if self._thread is not None:
            self._thread.join()

    @property
    def info(self) -> SandboxInfo:
        auth = self.config.jira_auth
        return SandboxInfo(
            url=self.url,
            jira_url=self.url,
            salesforce_url=self.url,
            ca_bundle=self.ca_bundle,
            jira_flavor=self.config.jira_flavor,
            jira_email=auth.bot_email,
            jira_api_token=auth.api_token,
            jira_pat=auth.pat,
            salesforce_token=self.config.salesforce_token,
            salesforce_username=self.salesforce_username,
            salesforce_password=SALESFORCE_PASSWORD,
            salesforce_security_token=SALESFORCE_SECURITY_TOKEN,
            salesforce_client_id=self.salesforce_auth.client_id,
            salesforce_client_secret=self.salesforce_auth.client_secret,
            salesforce_jwt_key=str(self.jwt_key),
            salesforce_login_url=self.login_url,
        )

    def index(self) -> dict[str, Any]:
        """`GET /`: what this sandbox serves and how to sign in (its own demo credentials, never real ones)."""
        info = self.info

        def routes(router: Any, prefix: str) -> list[str]:
            return sorted({f"{method} {pattern}" for method, pattern in router.routes() if pattern.startswith(prefix)})

        jira_auth = (
            f"basic auth: any demo user's e-mail (the bot: {info.jira_email}) with API token {info.jira_api_token}"
        )
        if self.config.jira_flavor == "datacenter":
            jira_auth += f"; or the personal access token {info.jira_pat} as a Bearer token"
        return {
            "service": "trackerbridge sandbox (Jira and Salesforce emulator, loopback only)",
            "url": info.url,
            "ca_bundle": info.ca_bundle,
            "jira": {
                "flavor": info.jira_flavor,
                "url": info.jira_url,
                "auth": jira_auth,
                "endpoints": routes(self.jira.router, "/rest/api/2/") + routes(self.jira.router, "/rest/api/3/"),
            },
            "salesforce": {
                "instance_url": info.salesforce_url,
                "auth": (
                    f"session id {info.salesforce_token} (Authorization: Bearer), or the OAuth password "
                    f"flow as {info.salesforce_username}"
                ),
                "endpoints": routes(self.salesforce.router, "/services/"),
            },
            "sandbox": [
                "GET /_sandbox/requests[?detail=1]",
                "DELETE /_sandbox/requests",
                "GET /_sandbox/faults",
                "PUT /_sandbox/faults",
                "GET /_sandbox/clock",
                "PUT /_sandbox/clock",
                "POST /_sandbox/save",
            ],
            "environment": info.as_env(),
        }

    # --- sandbox-only endpoints, from the outside ---------------------------------------------

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call a `/_sandbox/` endpoint over HTTPS, as an out-of-process client would."""
        import ssl

        context = ssl.create_default_context(cafile=self.ca_bundle)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}/_sandbox/{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, context=context) as resp:
            payload = resp.read()
        return json.loads(payload) if payload else None
