"""A trackerbridge project: the connector and mapping files of one directory, validated together.

Everything wrong with a project is reported in one go (all files, then the links between them),
because a cron job that fails on one error per run costs a day per error. Secrets are read only in
`connection()`, when a connector is about to connect, and their values never reach a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from trackerbridge.config.connection import CREDENTIAL_ROLES, Connection, Secret
from trackerbridge.config.errors import (
    ConfigError,
    ConfigErrors,
    ErrorContext,
    KeyPath,
    LineIndex,
    did_you_mean,
    format_key,
    nearest,
    show,
    suggest,
    translate,
)
from trackerbridge.config.models import (
    ConnectorFile,
    JiraConnector,
    MappingFile,
    ProjectConfig,
    SalesforceConnector,
)
from trackerbridge.config.yamlfile import load_yaml
from trackerbridge.redact import looks_secret
from trackerbridge.urls import is_loopback, require_https

Kind = Literal["connector", "mapping", "project"]
PROJECT_FILE = "trackerbridge.yaml"
AnyConnector = JiraConnector | SalesforceConnector

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
"""Connector and mapping names: they end up in labels, state keys and command lines."""

DIRECTORIES: dict[Kind, str] = {"connector": "connectors", "mapping": "mappings"}
OTHER_SYSTEM = {"jira": "salesforce", "salesforce": "jira"}
OPTIONAL_ROLES = frozenset({"security_token"})

_CONNECTOR = TypeAdapter(ConnectorFile)
_MAPPING = TypeAdapter(MappingFile)
_PROJECT = TypeAdapter(ProjectConfig)
_ENV_HINT = "set it where trackerbridge runs (cron and systemd do not read your shell profile)"


@dataclass(frozen=True)
class Location:
    """A place in a project file; `error()` makes a ConfigError that points at it."""

    file: Path
    line: int | None
    column: int | None
    key: str | None
    root: Path | None = None

    def error(self, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=self.line, key=self.key, hint=hint, root=self.root)


@dataclass(frozen=True)
class SourceFile:
    """One file as read: its data and where each key was, for errors found after loading."""

    kind: Kind
    name: str
    file: Path
    data: dict[Any, Any]
    lines: LineIndex


class Project:
    """The validated connectors and mappings of one project directory."""

    def __init__(
        self,
        root: Path,
        connectors: dict[str, AnyConnector],
        mappings: dict[str, MappingFile],
        sources: dict[tuple[Kind, str], SourceFile],
        config: ProjectConfig | None = None,
    ) -> None:
        self.root = root
        self.connectors = connectors
        self.mappings = mappings
        self.sources = sources
        self.config = config or ProjectConfig()

    # --- loading ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, root: Path | str) -> Project:
        """Read and check `root/connectors/*.yaml` and `root/mappings/*.yaml`; raise ConfigErrors with all problems."""
        root = Path(root).absolute()
        if not root.is_dir():
            raise ConfigError(f"the project directory {root} does not exist")
        errors: list[ConfigError] = []
        connector_files = _scan(root, "connector", errors)
        mapping_files = _scan(root, "mapping", errors)
        if not (root / "connectors").is_dir():
            errors.append(
                ConfigError(
                    f"{root} has no connectors/ directory",
                    hint="create connectors/<name>.yaml, one file per Jira or Salesforce instance",
                )
            )
        elif not connector_files and not errors:
            errors.append(
                ConfigError(
                    f"{root / 'connectors'} holds no connector files",
                    hint="add connectors/<name>.yaml, one file per Jira or Salesforce instance",
                )
            )

        sources: dict[tuple[Kind, str], SourceFile] = {}
        connectors: dict[str, AnyConnector] = {}
        mappings: dict[str, MappingFile] = {}
        for name, file in mapping_files.items():
            source = _read(root, "mapping", name, file, errors)
            if source is not None:
                sources["mapping", name] = source
                model = _validate(_MAPPING, MappingFile, source, root, errors)
                if model is not None:
                    mappings[name] = model
        for name, file in connector_files.items():
            source = _read(root, "connector", name, file, errors)
            if source is not None:
                sources["connector", name] = source
                model = _validate(_CONNECTOR, ConnectorFile, source, root, errors)
                if model is not None:
                    connectors[name] = model

        config = None
        if (root / PROJECT_FILE).is_file():
            source = _read(root, "project", "trackerbridge", root / PROJECT_FILE, errors)
            if source is not None:
                sources["project", "trackerbridge"] = source
                config = _validate(_PROJECT, ProjectConfig, source, root, errors)

        project = cls(root, connectors, mappings, sources, config)
        errors += project._cross_check(set(mapping_files))
        if errors:
            raise ConfigErrors(errors)
        return project

    def _cross_check(self, mapping_names: set[str]) -> list[ConfigError]:
        """The links between files: connector -> mapping, mapping -> mapping of the other system."""
        errors: list[ConfigError] = []
        for name, connector in self.connectors.items():
            here = self._context("connector", name)
            wanted = connector.mapping
            if wanted not in mapping_names:
                same_system = [m for m, spec in self.mappings.items() if spec.system == connector.type]
                hint = did_you_mean(wanted, sorted(mapping_names)) or _listing(
                    same_system, f"mappings for {connector.type}", "mappings/ has none"
                )
                errors.append(
                    here.at(("mapping",), f"no mapping named {wanted!r} (there is no mappings/{wanted}.yaml)", hint)
                )
                continue
            mapping = self.mappings.get(wanted)
            if mapping is not None and mapping.system != connector.type:
                line = self.where("mapping", wanted, ("system",)).line
                hint = f"mappings/{wanted}.yaml:{line} says system: {mapping.system}"
                errors.append(
                    here.at(
                        ("mapping",),
                        f"mapping {wanted!r} is for {mapping.system}, but this connector's type is {connector.type}",
                        hint,
                    )
                )

        for name, mapping in self.mappings.items():
            here = self._context("mapping", name)
            other = OTHER_SYSTEM[mapping.system]
            own = [*mapping.attributes, *mapping.extra]
            for index, sync in enumerate(mapping.sync):
                if sync.attribute not in own:
                    errors.append(
                        here.at(
                            ("sync", index, "attribute"),
                            f"{sync.attribute!r} is not an attribute of this mapping",
                            suggest(sync.attribute, own, "its attributes"),
                        )
                    )
                if sync.to not in mapping_names:
                    others = [m for m, spec in self.mappings.items() if spec.system == other]
                    hint = did_you_mean(sync.to, others) or _listing(
                        others, f"mappings for {other}", f"there is no {other} mapping"
                    )
                    errors.append(here.at(("sync", index, "to"), f"no mapping named {sync.to!r}", hint))
                    continue
                target = self.mappings.get(sync.to)
                if target is not None and target.system != other:
                    errors.append(
                        here.at(
                            ("sync", index, "to"),
                            f"mapping {sync.to!r} is for {target.system} too; sync writes to {other}",
                        )
                    )
            for index, link in enumerate(mapping.links):
                if link.system != other:
                    errors.append(
                        here.at(
                            ("links", index, "system"),
                            f"a {mapping.system} mapping links to records in the other system; expected {other!r}",
                        )
                    )
        return errors

    # --- pointing at lines -----------------------------------------------------------------------

    def where(self, kind: Kind, name: str, path: Sequence[Hashable] = ()) -> Location:
        """The line of `path` in a project file (or of its nearest ancestor), for later checks' errors."""
        source = self.sources.get((kind, name))
        if source is None:
            raise ConfigError(
                f"no {kind} named {name!r}",
                hint=suggest(name, sorted(n for k, n in self.sources if k == kind), f"{kind}s"),
            )
        _, position = nearest(source.lines, path)
        return Location(
            source.file,
            position[0] if position else None,
            position[1] if position else None,
            format_key(path) or None,
            self.root,
        )

    def _context(self, kind: Kind, name: str) -> ErrorContext:
        source = self.sources[kind, name]
        return ErrorContext(source.file, source.data, source.lines, self.root)

    # --- the command line ------------------------------------------------------------------------

    def select(self, names: Iterable[str] = ()) -> list[str]:
        """Connector names given on a command line, checked; none given means all of them."""
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return sorted(self.connectors)
        errors = [self._unknown_connector(name) for name in wanted if name not in self.connectors]
        if errors:
            raise ConfigErrors(errors)
        return wanted

    def _unknown_connector(self, name: str) -> ConfigError:
        return ConfigError(
            f"no connector named {name!r}",
            hint=suggest(name, sorted(self.connectors), "connectors"),
        )

    # --- connecting ------------------------------------------------------------------------------

    def connection(self, name: str, env: Mapping[str, str] = os.environ) -> Connection:
        """Resolve a connector's environment: URL, CA bundle, credentials, key file. All problems at once."""
        connector = self.connectors.get(name)
        if connector is None:
            raise self._unknown_connector(name)
        resolver = _Resolver(self, name, env)
        url = resolver.url(connector.url, connector.url_env, "url", insecure=connector.allow_insecure_http)
        ca_bundle = resolver.path(connector.ca_bundle, connector.ca_bundle_env, "ca_bundle", "CA bundle")
        auth = connector.auth
        credentials: dict[str, Secret] = {}
        for role in CREDENTIAL_ROLES[auth.method]:
            variable = getattr(auth, f"{role}_env", None)
            if variable is None:  # optional (security_token)
                continue
            if role in OPTIONAL_ROLES and not env.get(variable):
                continue  # orgs that trust the caller's IP range need no security token
            value = resolver.variable(("auth", f"{role}_env"), variable)
            if value is not None:
                credentials[role] = Secret(value, source=variable)
        login_url = key_file = None
        if isinstance(connector, SalesforceConnector) and auth.method in ("password", "jwt"):
            # Credentials go where the file says: login_url(_env), else the connector's own URL (a My Domain
            # or test.salesforce.com answers the token request too); never silently to production.
            if connector.login_url is not None or connector.login_url_env is not None:
                login_url = resolver.url(connector.login_url, connector.login_url_env, "login_url")
            else:
                login_url = url
            if auth.method == "jwt":
                key_file = resolver.path(auth.key_file, auth.key_file_env, "auth.key_file", "key file")
        if resolver.errors:
            raise ConfigErrors(resolver.errors)
        assert url is not None  # every failure to resolve it was recorded as an error
        return Connection(
            name=name,
            type=connector.type,
            url=url,
            auth_method=auth.method,
            credentials=credentials,
            scope=connector.scope,
            file=connector,
            ca_bundle=ca_bundle,
            timeout=connector.timeout,
            login_url=login_url,
            key_file=key_file,
            insecure_http=connector.allow_insecure_http and not is_loopback(url) and url.startswith("http:"),
        )


class _Resolver:
    """Reads one connector's environment, collecting errors that name variables, never values."""

    def __init__(self, project: Project, name: str, env: Mapping[str, str]) -> None:
        self.project = project
        self.here = project._context("connector", name)
        self.env = env
        self.errors: list[ConfigError] = []

    def fail(self, path: KeyPath, message: str, hint: str | None = None) -> None:
        self.errors.append(self.here.at(path, message, hint))

    def variable(self, path: KeyPath, variable: str) -> str | None:
        value = self.env.get(variable)
        if value is None:
            # Never the name itself: an unset "name" is often the secret, pasted where its name belongs.
            if looks_secret(variable):
                self.fail(
                    path,
                    "this looks like a secret, not a variable name (no such environment variable is set)",
                    "put the secret in an environment variable and give that variable's name here; "
                    "then replace the secret, since it has been in a file",
                )
            else:
                self.fail(path, "the environment variable named here is not set", _ENV_HINT)
        elif not value:
            self.fail(path, f"environment variable {variable} is empty", _ENV_HINT)
        elif value != value.strip():
            self.fail(
                path,
                f"environment variable {variable} starts or ends with whitespace (a newline?)",
                "remove it: an HTTP header cannot carry it",
            )
        else:
            return value
        return None

    def url(self, given: str | None, variable: str | None, key: str, *, insecure: bool = False) -> str | None:
        """An http(s) URL, https unless it is this machine (or the file says `allow_insecure_http: true`)."""
        if variable is not None:
            path: KeyPath = (f"{key}_env",)
            value = self.variable(path, variable)
            named = f"the URL in environment variable {variable}"  # never the value: it may carry secrets
        else:
            path, value = tuple(key.split(".")), given
            named = show(given)
        if value is None:
            return None
        parts = urlsplit(value)
        try:
            host = parts.hostname
        except ValueError:
            host = None
        if parts.scheme not in ("http", "https") or not host:
            self.fail(path, f"{named} is not a URL", "expected e.g. https://example.atlassian.net")
            return None
        if parts.username or parts.password:
            self.fail(path, "the URL must not carry a user name or password", "credentials belong in auth:")
            return None
        try:
            if not insecure:
                require_https(value)
        except ValueError as exc:
            message = str(exc) if variable is None else f"{named} must use https:// (plain http only for loopback)"
            self.fail(path, message, "or, knowing that credentials then travel in the clear, allow_insecure_http: true")
            return None
        return value.rstrip("/")

    def path(self, given: str | None, variable: str | None, key: str, what: str) -> str | None:
        """An existing readable file: relative paths in the file are taken from the project directory."""
        base = tuple(key.split("."))
        if variable is not None:
            path: KeyPath = (*base[:-1], f"{base[-1]}_env")
            value = self.variable(path, variable)
            if value is None:
                return None
            file = Path(value).expanduser()  # from the environment: relative to where we run
            named = f"the {what} named by environment variable {variable}"
            where_hint = None
        elif given is not None:
            path = base
            file = Path(given).expanduser()
            if not file.is_absolute():
                file = self.project.root / file
            named = f"{what} {given}"
            where_hint = None if Path(given).is_absolute() else f"relative paths start at {self.project.root}"
        else:
            return None
        if not file.exists():
            self.fail(path, f"{named} does not exist", where_hint)
        elif not file.is_file():
            self.fail(path, f"{named} is not a file", where_hint)
        elif not os.access(file, os.R_OK):
            self.fail(path, f"{named} cannot be read (permissions)")
        else:
            return str(file)
        return None


def _scan(root: Path, kind: Kind, errors: list[ConfigError]) -> dict[str, Path]:
    """name -> file for the .yaml files of one directory; misnamed files are errors, not skipped silently."""
    directory = root / DIRECTORIES[kind]
    if not directory.is_dir():
        return {}
    found: dict[str, Path] = {}
    for file in sorted(directory.iterdir()):
        if file.name.startswith(".") or not file.is_file():
            continue  # editor backups, lock files, subdirectories
        if file.suffix == ".yml":
            errors.append(
                ConfigError(
                    "trackerbridge reads only .yaml files",
                    file=file,
                    root=root,
                    hint=f"rename it to {file.stem}.yaml",
                )
            )
            continue
        if file.suffix != ".yaml":
            continue
        name = file.stem
        if not NAME.match(name):
            fixed = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_") or kind
            errors.append(
                ConfigError(
                    f"{show(name)} is not a valid {kind} name: use lowercase letters, digits, - and _, "
                    "starting with a letter or digit",
                    file=file,
                    root=root,
                    hint=f"rename it to {DIRECTORIES[kind]}/{fixed}.yaml",
                )
            )
            continue
        found[name] = file
    return found


def _read(root: Path, kind: Kind, name: str, file: Path, errors: list[ConfigError]) -> SourceFile | None:
    try:
        data, lines = load_yaml(file, root=root)
    except ConfigError as exc:
        errors.extend(exc.errors)
        return None
    return SourceFile(kind, name, file, data, lines)


def _validate(
    adapter: TypeAdapter[Any], root_type: Any, source: SourceFile, root: Path, errors: list[ConfigError]
) -> Any:
    try:
        return adapter.validate_python(source.data)
    except ValidationError as exc:
        errors.extend(translate(exc, root_type, ErrorContext(source.file, source.data, source.lines, root)))
        return None


def _listing(names: Sequence[str], label: str, empty: str) -> str:
    return f"{label}: {', '.join(sorted(names))}" if names else empty
