"""The files a user writes, as pydantic models: `connectors/<name>.yaml` and `mappings/<name>.yaml`.

Secrets never live in these files: every credential is the *name* of an environment variable
(`*_env` keys), resolved only when a connector connects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trackerbridge.model import CANONICAL_ATTRIBUTES, Size, Stage

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(pattern=ENV_NAME, description="Name of an environment variable")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- connectors/<name>.yaml ----------------------------------------------------------------------


class JiraApiToken(Strict):
    """Jira Cloud: an Atlassian account e-mail and API token (basic auth)."""

    method: Literal["api_token"]
    email_env: EnvName
    token_env: EnvName


class JiraPat(Strict):
    """Jira Data Center: a personal access token (bearer)."""

    method: Literal["pat"]
    token_env: EnvName


class JiraBasic(Strict):
    """Jira Data Center: username and password (basic auth), where PATs are not enabled."""

    method: Literal["basic"]
    username_env: EnvName
    password_env: EnvName


class SalesforceAccessToken(Strict):
    """An existing session: access token, with `url` as the instance URL."""

    method: Literal["access_token"]
    token_env: EnvName


class SalesforcePassword(Strict):
    """OAuth 2.0 username-password flow against `login_url` (a connected app's client id and secret)."""

    method: Literal["password"]
    username_env: EnvName
    password_env: EnvName
    security_token_env: EnvName | None = None
    client_id_env: EnvName
    client_secret_env: EnvName


class SalesforceJwt(Strict):
    """OAuth 2.0 JWT bearer flow: a connected app's client id and the private key that signs."""

    method: Literal["jwt"]
    username_env: EnvName
    client_id_env: EnvName
    key_file: str | None = Field(None, description="Path to the PEM private key")
    key_file_env: EnvName | None = Field(None, description="Environment variable holding that path")

    @model_validator(mode="after")
    def _one_key(self) -> SalesforceJwt:
        if (self.key_file is None) == (self.key_file_env is None):
            raise ValueError("give exactly one of key_file or key_file_env")
        return self


class Owns(Strict):
    """What trackerbridge may write on this instance: nothing else is ever touched."""

    fields: list[str] = Field(default_factory=list, description="Field names or ids trackerbridge owns")
    labels: list[str] = Field(default_factory=list, description="Exact labels trackerbridge owns")
    label_prefixes: list[str] = Field(
        default_factory=list,
        description="Opt-in: every label with one of these prefixes is trackerbridge's, people's included "
        "(trackerbridge check warns about live labels it would remove); prefer exact labels",
    )


class Endpoint(Strict):
    """Shared by both connector types."""

    url: str | None = Field(None, description="Base URL (Jira site, Salesforce instance or login URL)")
    url_env: EnvName | None = Field(None, description="Environment variable holding the URL")
    ca_bundle: str | None = Field(None, description="PEM bundle of the CA that signs the server certificate")
    ca_bundle_env: EnvName | None = None
    mapping: str = Field(description="Name of the mapping file in mappings/, without .yaml")
    owns: Owns = Field(default_factory=Owns)
    timeout: float = Field(30.0, gt=0, description="Seconds per HTTP request")
    allow_insecure_http: bool = Field(
        False,
        description="Allow http:// to a host other than this machine: credentials travel in the clear, "
        "and `check` warns on every run",
    )
    description: str | None = None

    @model_validator(mode="after")
    def _one_url(self) -> Endpoint:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url or url_env")
        if self.ca_bundle is not None and self.ca_bundle_env is not None:
            raise ValueError("give at most one of ca_bundle or ca_bundle_env")
        return self


class JiraScope(Strict):
    jql: str = Field(description="The JQL that selects initiatives (no ORDER BY)")

    @field_validator("jql")
    @classmethod
    def _no_order_by(cls, value: str) -> str:
        if " order by " in f" {value.casefold()} ":
            raise ValueError("leave ORDER BY out: trackerbridge orders by its own watermark")
        if not value.strip():
            raise ValueError("a scope needs a restriction, e.g. project in (OPS, DEL)")
        return value


class SalesforceScope(Strict):
    object: str = Field(description="sObject API name, e.g. Opportunity or Initiative__c")
    where: str | None = Field(None, description="SOQL condition, without WHERE")


class JiraConnector(Endpoint):
    type: Literal["jira"]
    flavor: Literal["auto", "cloud", "datacenter"] = "auto"
    auth: Annotated[JiraApiToken | JiraPat | JiraBasic, Field(discriminator="method")]
    scope: JiraScope


class SalesforceConnector(Endpoint):
    type: Literal["salesforce"]
    api_version: str = Field("59.0", pattern=r"^\d{2}\.0$")
    login_url: str | None = Field(
        None,
        description="Where password and JWT sign-in send credentials (https://test.salesforce.com for a "
        "sandbox org, a My Domain URL); default: url",
    )
    login_url_env: EnvName | None = Field(None, description="Environment variable holding the login URL")
    auth: Annotated[SalesforceAccessToken | SalesforcePassword | SalesforceJwt, Field(discriminator="method")]
    scope: SalesforceScope

    @model_validator(mode="after")
    def _one_login_url(self) -> SalesforceConnector:
        if self.login_url is not None and self.login_url_env is not None:
            raise ValueError("give at most one of login_url or login_url_env")
        return self


ConnectorFile = Annotated[JiraConnector | SalesforceConnector, Field(discriminator="type")]


# --- mappings/<name>.yaml ------------------------------------------------------------------------

Transform = Literal["text", "date", "datetime", "number", "integer", "boolean", "person"]


class AttributeSpec(Strict):
    """Where one initiative attribute comes from. A bare string is shorthand for `{field: ...}`."""

    field: str = Field(description="Tracker field as people see it ('Integrator') or its id")
    values: dict[str, Any] | None = Field(None, description="Tracker value -> attribute value")
    at_least: dict[float, Any] | None = Field(
        None, description="Numeric bands: threshold -> value, e.g. {0: minor, 100000: major} for an amount"
    )
    default: Any = Field(None, description="For tracker values the value map does not list")
    transform: Transform | None = Field(None, description="Conversion; inferred from the field type if absent")
    format: str | None = Field(None, description="strptime format, for dates held in text fields")
    timezone: str | None = Field(None, description="IANA zone: naive times are in it; dates are taken in it")
    take: Literal["one", "first", "all"] = Field(
        "one",
        description="For a field holding several values (multi-user picker, components, multi-select, "
        "multipicklist): one (more than one is a TB116 finding), first, or all (text joined by ', ', a list in extra)",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"field": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_table(self) -> AttributeSpec:
        if self.values is not None and self.at_least is not None:
            raise ValueError("give values or at_least, not both")
        return self


class LinkSpec(Strict):
    """A field holding the key of the linked record in the other system."""

    system: Literal["jira", "salesforce"]
    field: str


class IssueLinkSpec(Strict):
    """Jira issue links of one type and direction, as seen from the record: their keys become an `extra` attribute
    (a list) that a roll-up with `via: attribute` follows. `{type: Delivers, direction: outward}` on a delivery epic
    gives the initiatives it delivers ("DEL-33 delivers OPS-7")."""

    type: str = Field(min_length=1, description="The issue link type's name (Delivers, Blocks) or id")
    direction: Literal["outward", "inward"] = Field(
        description="outward: this record <outward description> the other (DEL-33 delivers OPS-7); inward: this "
        "record <inward description> the other (OPS-7 is delivered by DEL-33)"
    )


class SyncSpec(Strict):
    """A value this side is the source of truth for, written to the linked record on the other side."""

    attribute: str = Field(description="Attribute of this mapping whose value travels")
    to: str = Field(description="The other system's mapping name")
    field: str = Field(description="Field on the other side that receives the value")
    values: dict[str, Any] | None = Field(None, description="Attribute value -> the other side's value")
    direction: Literal["one-way"] = "one-way"
    quality_owner: str = Field(description="Named owner of this data's quality (e-mail)")
    clear: bool = Field(
        False,
        description="An empty value here erases a filled field on the other side; without it the other side "
        "keeps its value and the run reports it",
    )


class WriteBack(Strict):
    """What the verdict looks like on this system's records."""

    health_field: str | None = Field(None, description="Field receiving green / amber / red")
    health_values: dict[Literal["green", "amber", "red"], str] | None = None
    reasons_field: str | None = None
    activity_field: str | None = Field(
        None,
        description="An owned date-time field that keeps when a person last changed the record, so trackerbridge's "
        "own writes never count as activity (Salesforce needs it; Jira keeps it in an issue property)",
    )
    label_prefix: str | None = Field(
        None, description="e.g. 'health-' gives health-green, health-amber, health-red and health-sync-conflict"
    )
    notify_on_red: bool = Field(True, description="Comment (Jira) or Task (Salesforce) once per turn to red")


class MappingFile(Strict):
    system: Literal["jira", "salesforce"]
    description: str | None = None
    attributes: dict[str, AttributeSpec]
    extra: dict[str, AttributeSpec] = Field(default_factory=dict, description="Attributes beyond the canonical")
    links: list[LinkSpec] = Field(default_factory=list)
    issue_links: dict[str, IssueLinkSpec] = Field(
        default_factory=dict,
        description="Jira only: attribute -> issue links of a type and direction; the linked keys, a list in extra "
        "(roll-ups follow them with via: attribute)",
    )
    sync: list[SyncSpec] = Field(default_factory=list)
    write_back: WriteBack = Field(default_factory=WriteBack)
    history: bool = Field(
        False,
        description="Read each record's change history (Jira changelog, Salesforce field history of the mapped "
        "fields: one query per 200 records): commitment and slip rules need it",
    )

    @model_validator(mode="after")
    def _issue_links(self) -> MappingFile:
        if self.issue_links and self.system != "jira":
            raise ValueError("issue_links are Jira's: a Salesforce mapping has links (a field with the other key)")
        for name in self.issue_links:
            if name in self.extra or name in CANONICAL_ATTRIBUTES:
                raise ValueError(f"issue_links {name!r} is also an attribute: give it its own name")
        return self

    @field_validator("attributes")
    @classmethod
    def _known(cls, value: dict[str, AttributeSpec]) -> dict[str, AttributeSpec]:
        unknown = sorted(set(value) - set(CANONICAL_ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown attribute {unknown[0]!r}")  # the loader adds line and suggestion
        for name, kind in (("stage", Stage), ("size", Size)):
            spec = value.get(name)
            allowed = {m.value for m in kind}
            if spec is not None:
                for mapped in [*(spec.values or {}).values(), *(spec.at_least or {}).values(), spec.default]:
                    if mapped is not None and mapped not in allowed:
                        raise ValueError(f"{name} maps to {mapped!r}; expected one of {', '.join(sorted(allowed))}")
        return value


# --- trackerbridge.yaml --------------------------------------------------------------------------

SeverityName = Literal["error", "warning"]


class RuleScope(Strict):
    """Which rules apply to one connector's records, within the project-wide selection."""

    select: list[str] = Field(default_factory=lambda: ["TB"])
    ignore: list[str] = Field(default_factory=list)


class RulesConfig(Strict):
    select: list[str] = Field(
        default_factory=lambda: ["TB"], description="Codes, prefixes or rule names (TB1, TB104, past-end-date)"
    )
    ignore: list[str] = Field(default_factory=list, description="Codes, prefixes or rule names to leave out")
    preview: bool = Field(False, description="Also run preview rules that select picks by prefix")
    severity: dict[str, SeverityName] = Field(default_factory=dict, description="Code or name -> error or warning")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Code or name -> parameter values")
    scope: dict[str, RuleScope] = Field(default_factory=dict, description="Connector name -> its rules")


class RollupConfig(Strict):
    """One roll-up rule: a parent is at least `then` when any child is `when` (and of `size`, if given)."""

    when: Literal["red", "amber"] = Field("red", description="A child's health that rolls up")
    size: Literal["major", "minor"] | None = Field(None, description="Only children of this size (none: any)")
    then: Literal["red", "amber"] = Field("red", description="The parent's health at least")
    via: Literal["links", "attribute"] = Field(
        "links",
        description="links: the records a parent's mapped links point at (a Salesforce opportunity's delivery "
        "epic); attribute: records whose `attribute` holds the parent's key (a Jira Parent or Epic Link field) or keys "
        "(a mapping's issue_links: the issues a delivery epic delivers)",
    )
    attribute: str = Field("parent", description="With via: attribute, the child's attribute naming its parent")
    systems: list[Literal["jira", "salesforce"]] = Field(
        default_factory=list, description="Only parents in these systems (empty: any)"
    )
    stages: list[Stage] = Field(default_factory=list, description="Only parents in these stages (empty: any)")


def _severities(*names: SeverityName) -> list[SeverityName]:
    return list(names)


class HealthConfig(Strict):
    red: list[SeverityName] = Field(
        default_factory=lambda: _severities("error"), description="Severities that make red"
    )
    amber: list[SeverityName] = Field(
        default_factory=lambda: _severities("warning"), description="Severities that make amber"
    )
    rollup: list[RollupConfig] = Field(
        default_factory=list, description="A parent's health considers its children's (one level, own verdicts)"
    )


class WaiversConfig(Strict):
    label_prefix: str = Field("tb-waive-", description="Labels like tb-waive-TB103-until-2026-12-31")


class StateConfig(Strict):
    url: str = Field(
        "sqlite:///.trackerbridge/state.db",
        description="SQLAlchemy URL of the state store; relative SQLite paths are from the project root",
    )
    discovery_max_age: int = Field(
        3600,
        ge=0,
        description="seconds `sync` reuses what it learned when connecting (server facts, field catalog) "
        "instead of asking each run; a refused write or a mapping that no longer fits asks again; 0: every run",
    )
    retention_days: int = Field(
        90,
        ge=1,
        description="days of run history and audit log `sync` keeps (pruned once a day); the last write of each "
        "record and field is always kept; `trackerbridge state prune` prunes now",
    )


class QuotaConfig(Strict):
    share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="share of what is left of each tracker's API allowance (Salesforce's daily requests, Jira's "
        "rate limit) one `sync` may use; past it the run stops cleanly and the next carries on; 1: no pacing",
    )


MeasureName = Literal[
    "active",
    "share_owner",
    "share_end_date",
    "share_integrator",
    "pending_decisions",
    "stuck_in_decide",
    "slips_without_reason",
    "overdue",
    "red",
    "amber",
]
MAX_SCORECARD = 10  # the playbook's limit, as TB114 checks it on people's scorecards


class ScorecardMeasure(Strict):
    """One measure of the weekly team page (`report --by team`): a built-in measure, shown as configured."""

    measure: MeasureName = Field(description="Which built-in measure (`report.team.CATALOG`)")
    label: str | None = Field(None, min_length=1, description="What the page calls it (default: the built-in label)")
    kind: Literal["leading", "lagging"] | None = Field(None, description="Default: the built-in measure's kind")
    better: Literal["up", "down"] | None = Field(
        None, description="Which way is better, for a measure without one (active); default: the built-in's"
    )
    green: float | None = Field(None, ge=0, description="Up is better: green from here; down: green up to here")
    amber: float | None = Field(None, ge=0, description="Up is better: amber from here; down: amber up to here")

    @model_validator(mode="after")
    def _thresholds(self) -> ScorecardMeasure:
        from trackerbridge.report.team import CATALOG  # the built-in measures: what each counts, which way is better

        if (self.green is None) != (self.amber is None):
            raise ValueError("give both green and amber, or neither (then the default thresholds apply)")
        base = CATALOG[self.measure]
        better = self.better or base.better
        if self.green is None or self.amber is None:
            return self
        if better == "none":
            raise ValueError(f"{self.measure} has no better direction: give better: up or down with green and amber")
        if base.kind == "share" and max(self.green, self.amber) > 1:
            raise ValueError(f"{self.measure} is a share (0 to 1): thresholds above 1 can never be reached")
        if better == "up" and self.green < self.amber:
            raise ValueError(
                f"more {self.measure} is better, so green ({self.green:g}) must be at least amber ({self.amber:g})"
            )
        if better == "down" and self.green > self.amber:
            raise ValueError(
                f"less {self.measure} is better, so green ({self.green:g}) must be at most amber ({self.amber:g})"
            )
        return self


class ReportConfig(Strict):
    scorecard: list[ScorecardMeasure] | None = Field(
        None,
        min_length=1,
        description="The weekly team page's measures, in order (at most ten, as TB114 asks); default: the built-in "
        "ten (README, The weekly page per team)",
    )

    @field_validator("scorecard")
    @classmethod
    def _once(cls, value: list[ScorecardMeasure] | None) -> list[ScorecardMeasure] | None:
        if value is not None and len(value) > MAX_SCORECARD:
            raise ValueError(
                f"a scorecard holds at most {MAX_SCORECARD} measures (the playbook's rule, TB114); "
                f"this one lists {len(value)}"
            )
        seen: set[str] = set()
        for m in value or []:
            if m.measure in seen:
                raise ValueError(f"measure {m.measure!r} is listed twice")
            seen.add(m.measure)
        return value


class ProjectConfig(Strict):
    """`trackerbridge.yaml` at the project root; every key is optional."""

    state: StateConfig = Field(default_factory=StateConfig)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    waivers: WaiversConfig = Field(default_factory=WaiversConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
