"""`trackerbridge rules`, and what the rules' lifecycle and a crashing rule look like through the commands:
`rules CODE` names the documentation page, old codes are followed, a crash is a finding in `audit` and held
records in `sync` (nothing written to them, and written by the next run whose rules work)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pluggy
import pytest
from click.testing import CliRunner

from trackerbridge.audit import run_audit
from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.model import Initiative
from trackerbridge.plugins import Specs, hookimpl
from trackerbridge.rules import builtin, registry
from trackerbridge.rules.base import DOCS, Context, Hit, Rule, Severity, Status
from trackerbridge.sandbox import Sandbox
from trackerbridge.state.store import StateStore

SECRET = "p4ssw0rd-in-a-message"


def plain(code: str, name: str, **changes: object) -> Rule:
    rule = Rule(code, name, Severity.WARNING, f"{name} summary", "w", "y", "f", lambda i, c: [])
    return replace(rule, **changes)  # type: ignore[arg-type]


@pytest.fixture
def extra_rules(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Rule]]:
    """Rules registered next to the built-ins, as a plugin would; the test fills the list."""
    provided: list[Rule] = []
    pm = pluggy.PluginManager("trackerbridge")
    pm.add_hookspecs(Specs)
    pm.register(builtin, name="builtin_rules")
    pm.register(SimpleNamespace(trackerbridge_rules=hookimpl(lambda: list(provided))), name="test_plugin")
    monkeypatch.setattr(registry, "plugin_manager", lambda: pm)
    yield provided


def test_rules_code_names_its_documentation_page() -> None:
    result = CliRunner().invoke(main, ["rules", "past-end-date"])
    assert result.exit_code == 0
    assert f"Docs:       {DOCS}#tb105-past-end-date" in result.output


def test_rules_lists_status_follows_old_codes_and_explains_removed_ones(extra_rules: list[Rule]) -> None:
    extra_rules += [
        plain("TB901", "new-check", status=Status.PREVIEW),
        plain("TB903", "better-check", redirects=("TB950",), url="https://rules.example.com/tb903"),
        plain("TB904", "gone-check", status=Status.REMOVED, replacement="TB903"),
    ]
    listing = CliRunner().invoke(main, ["rules"]).output
    assert "TB901  new-check" in listing and "new-check summary [preview]" in listing
    assert "gone-check summary [removed]" in listing and "better-check summary\n" in listing
    old = CliRunner().invoke(main, ["rules", "TB950"])
    assert old.exit_code == 0 and old.output.startswith("TB950 is now TB903 (better-check)\n")
    assert "Formerly:   TB950" in old.output and "Docs:       https://rules.example.com/tb903" in old.output
    gone = CliRunner().invoke(main, ["rules", "TB904"]).output
    assert "TB904 gone-check (warning, removed)" in gone and "Replaced by TB903 (better-check)." in gone


def test_rules_explains_the_crash_code() -> None:
    result = CliRunner().invoke(main, ["rules", "TB000"])
    assert result.exit_code == 0 and result.output.startswith("TB000 rule-crashed (error)")


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(size=60)


def fragile(crash_on: set[str]) -> Rule:
    """A plugin rule that raises on the records in `crash_on` (mutable: empty it to fix the rule)."""

    def check(initiative: Initiative, ctx: Context) -> list[Hit]:
        if initiative.key in crash_on:
            raise KeyError(f"no 'x' in https://bot:{SECRET}@jira.example.com/{initiative.key}")
        return []

    return Rule("TB901", "fragile-rule", Severity.WARNING, "s", "w", "y", "f", check, systems=("jira",))


def test_audit_reports_a_crashing_rule_as_findings_and_goes_on(
    sb: Sandbox, project: Path, extra_rules: list[Rule]
) -> None:
    crash_on = set(sorted(sb.jira_data.issues)[:2])
    extra_rules.append(fragile(crash_on))
    result = CliRunner().invoke(
        main,
        [
            "audit",
            "--project",
            str(project),
            "--as-of",
            sb.clock.now().isoformat(),
            "--format",
            "json",
            "--fail-on",
            "never",
        ],
        env=sb.info.as_env(),
    )
    assert result.exit_code == 0, result.stderr
    assert SECRET not in result.output and "Traceback" not in result.output
    doc = json.loads(result.stdout)
    text = json.dumps(doc)
    assert text.count("rule TB901 fragile-rule crashed: KeyError") == 2
    assert '"TB101"' in text  # the other rules ran


def test_sync_holds_the_records_a_rule_crashed_on_and_the_next_good_run_writes_them(
    sb: Sandbox, project: Path, extra_rules: list[Rule]
) -> None:
    keys = sorted(sb.jira_data.issues)
    crash_on = {keys[0], keys[1]}
    extra_rules.append(fragile(crash_on))
    found = sb.jira_data.field_by_clause("Execution health")
    assert found is not None
    health = found.id
    before = {k: sb.jira_data.issues[k].fields.get(health) for k in crash_on}

    def sync() -> tuple[int, str, str]:
        r = CliRunner().invoke(
            main,
            ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), "--log-format", "json"],
            env=sb.info.as_env(),
        )
        return r.exit_code, r.stdout, r.stderr

    code, _, err = sync()
    assert code == 0, err
    events = [json.loads(line) for line in err.splitlines()]
    crashed = [e for e in events if e["event"] == "rule-crashed"]
    assert sorted(e["key"] for e in crashed) == sorted(crash_on)
    assert all(e["held"] and e["error"].startswith("rule TB901 fragile-rule crashed: KeyError") for e in crashed)
    assert SECRET not in err
    summary = next(e for e in events if e["event"] == "summary")
    assert summary["rule_crashed"] == 2 and summary["written"] > 0
    # nothing written to the held records; the rest carry the audit's verdict
    assert {k: sb.jira_data.issues[k].fields.get(health) for k in crash_on} == before
    written = [k for k in keys if k not in crash_on and sb.jira_data.issues[k].fields.get(health)]
    assert written
    with StateStore.open(_state_url(project), read_only=True) as store:
        kept = store.health("sandbox-jira")
    assert not crash_on & set(kept) and set(written) <= set(kept)
    # the rule is fixed: the next run writes the held records, and they carry the audit's verdict
    crash_on.clear()
    code, _, err = sync()
    assert code == 0, err
    expected = run_audit(Project.load(project), [], sb.clock.now(), sb.info.as_env())
    for k in (keys[0], keys[1]):
        assert sb.jira_data.issues[k].fields[health] == expected.health[f"sandbox-jira:{k}"].flag.value.capitalize()


def _state_url(project: Path) -> str:
    from trackerbridge.cli.common import state_url

    p = Project.load(project)
    return state_url(p.root, p.config.state.url)


def test_a_deprecated_rule_warns_once_on_stderr(sb: Sandbox, project: Path, extra_rules: list[Rule]) -> None:
    extra_rules.append(plain("TB902", "old-check", status=Status.DEPRECATED))
    result = CliRunner().invoke(
        main,
        [
            "audit",
            "--project",
            str(project),
            "--as-of",
            sb.clock.now().isoformat(),
            "--format",
            "json",
            "--fail-on",
            "never",
        ],
        env=sb.info.as_env(),
    )
    assert result.exit_code == 0, result.stderr
    warning = "warning: TB902 (old-check) is deprecated and will be removed; ignore it in trackerbridge.yaml"
    assert result.stderr.count(warning) == 1
    json.loads(result.stdout)  # stdout stays the document


def audit_codes(sb: Sandbox, project: Path, *args: str) -> set[str]:
    result = CliRunner().invoke(
        main,
        [
            "audit",
            "--project",
            str(project),
            "--as-of",
            sb.clock.now().isoformat(),
            "--format",
            "jsonl",
            "--fail-on",
            "never",
            *args,
        ],
        env=sb.info.as_env(),
    )
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["code"] for row in rows if row.get("code")}


def test_audit_select_and_ignore_take_codes_prefixes_and_names(sb: Sandbox, project: Path) -> None:
    everything = audit_codes(sb, project)
    assert {"TB101", "TB102", "TB105"} <= everything
    assert audit_codes(sb, project, "--select", "owner-missing,TB102") == {"TB101", "TB102"}
    assert audit_codes(sb, project, "--select", "TB10", "--ignore", "past-end-date") == {
        c for c in everything if c.startswith("TB10") and c != "TB105"
    }


def test_audit_preview_rules_need_exact_selection_or_preview(
    sb: Sandbox, project: Path, extra_rules: list[Rule]
) -> None:
    def shout(initiative: Initiative, ctx: Context) -> list[Hit]:
        return [Hit(initiative, "previewed")]

    extra_rules.append(plain("TB901", "new-check", status=Status.PREVIEW, check=shout))
    assert "TB901" not in audit_codes(sb, project)
    assert "TB901" in audit_codes(sb, project, "--preview")
    assert audit_codes(sb, project, "--select", "new-check") == {"TB901"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--select", "owner-mising"], "--select: 'owner-mising' matches no rule"),
        (["--ignore", "TB1,nope"], "--ignore: 'nope' matches no rule"),
    ],
)
def test_audit_an_unknown_rule_on_the_command_line_is_exit_2_naming_the_option(
    project: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["audit", "--project", str(project), *args])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    if "owner-mising" in message:
        assert "did you mean 'owner-missing'?" in result.stderr


def test_audit_selecting_a_removed_rule_names_its_replacement(project: Path, extra_rules: list[Rule]) -> None:
    extra_rules += [
        plain("TB903", "better-check"),
        plain("TB904", "gone-check", status=Status.REMOVED, replacement="TB903"),
    ]
    result = CliRunner().invoke(main, ["audit", "--project", str(project), "--select", "gone-check"])
    assert result.exit_code == 2
    assert "--select: TB904 (gone-check) was removed" in result.stderr and "use TB903 instead" in result.stderr


def test_a_parameter_a_rule_cannot_use_is_exit_2_naming_the_key(sb: Sandbox, project: Path) -> None:
    config = project / "trackerbridge.yaml"
    config.write_text(config.read_text().replace("  params:\n", "  params:\n    TB105: {timezone: Mars/Olympus}\n", 1))
    result = CliRunner().invoke(
        main, ["audit", "--project", str(project), "--as-of", sb.clock.now().isoformat()], env=sb.info.as_env()
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("rules.params.TB105: unknown time zone 'Mars/Olympus'")


def test_sync_with_json_logs_gives_a_rule_warning_as_one_json_event(
    sb: Sandbox, project: Path, extra_rules: list[Rule]
) -> None:
    extra_rules.append(plain("TB902", "old-check", status=Status.DEPRECATED))
    result = CliRunner().invoke(
        main,
        ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), "--log-format", "json", "--dry-run"],
        env=sb.info.as_env(),
    )
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    warned = [e for e in events if e["event"] == "warning"]
    assert len(warned) == 1 and warned[0]["message"].startswith("TB902 (old-check) is deprecated")
