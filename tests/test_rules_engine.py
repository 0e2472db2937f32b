"""The engine and the registry: selection, parameters, severities, scope, waivers, ordering, identity."""

import re
from types import SimpleNamespace

import pluggy
import pytest

from rulekit import NOW, days_ago, make, rules, run
from trackerbridge.model import Initiative, Size, Stage
from trackerbridge.plugins import PluginError, Specs, hookimpl
from trackerbridge.rules import registry
from trackerbridge.rules.base import CODE_PATTERN, NAME_PATTERN, Context, Hit, Index, Param, Rule, Severity
from trackerbridge.rules.engine import RuleSettings, Selection, active_rules, effective_params, evaluate
from trackerbridge.rules.registry import find_rule, load_rules

# --- selection -------------------------------------------------------------------------------


def test_default_selection_takes_every_rule() -> None:
    assert [r.code for r in active_rules(rules(), RuleSettings())] == list(rules())


def test_selection_by_exact_code_and_by_prefix() -> None:
    assert Selection(select=("TB105",)).includes("TB105")
    assert not Selection(select=("TB105",)).includes("TB104")
    assert Selection(select=("TB10",)).includes("TB104")
    assert not Selection(select=("TB10",)).includes("TB110")


def test_longer_match_wins_like_ruff() -> None:
    s = Selection(select=("TB", "TB105"), ignore=("TB10",))
    assert s.includes("TB105")  # TB105 (5 chars) beats TB10 (4)
    assert not s.includes("TB104")  # TB10 beats TB
    assert s.includes("TB110")  # only TB matches
    assert not Selection(select=("TB1",), ignore=("TB105",)).includes("TB105")


def test_on_a_tie_ignore_wins() -> None:
    assert not Selection(select=("TB105",), ignore=("TB105",)).includes("TB105")


def test_selection_is_case_insensitive() -> None:
    assert Selection(select=("tb105",)).includes("TB105")
    assert not Selection(select=("TB",), ignore=("tb105",)).includes("TB105")


def test_ignore_removes_findings_from_evaluate() -> None:
    records = [make(end=None, owner=None)]
    settings = RuleSettings(selection=Selection(select=("TB101", "TB102"), ignore=("TB102",)))
    assert [f.code for f in evaluate(records, rules(), settings, NOW)] == ["TB101"]


# --- parameters and severities ---------------------------------------------------------------


def test_param_coercion_keeps_the_default_type() -> None:
    assert Param(7, "").coerce(10) == 10
    assert Param(7, "").coerce(10.0) == 10 and isinstance(Param(7, "").coerce(10.0), int)
    assert Param(1.5, "").coerce(2) == 2.0 and isinstance(Param(1.5, "").coerce(2), float)
    assert Param([], "").coerce(["Epic"]) == ["Epic"]
    assert Param(False, "").coerce(True) is True


@pytest.mark.parametrize(
    ("default", "value", "error"),
    [
        (7, "7", "expected int"),
        (7, 7.5, "whole number"),
        (7, True, "expected int"),
        (True, 1, "expected bool"),
        (True, "yes", "expected bool"),
        ("UTC", 0, "expected str"),
        ([], "Epic", "expected list"),
        ({}, [], "expected dict"),
    ],
)
def test_param_coercion_errors(default: object, value: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Param(default, "").coerce(value)


def test_configured_params_overlay_defaults() -> None:
    rule = rules()["TB110"]
    values = effective_params(rule, RuleSettings(params={"TB110": {"days": 30.0}}))
    assert values == {"days": 30, "source_system": "salesforce", "delivery_system": "jira", "timezone": "UTC"}


def test_bad_param_stops_evaluate() -> None:
    with pytest.raises(ValueError, match="expected int"):
        run("TB104", [make()], params={"days": "7"})


def test_severity_override() -> None:
    settings = RuleSettings(selection=Selection(select=("TB102",)), severity={"TB102": Severity.WARNING})
    (finding,) = evaluate([make(end=None)], rules(), settings, NOW)
    assert finding.severity is Severity.WARNING
    assert rules()["TB102"].severity is Severity.ERROR


# --- per-connector scope ---------------------------------------------------------------------


def test_scope_narrows_rules_for_one_connector() -> None:
    jira = make(key="OPS-1", end=None)
    opp = make(key="006A", system="salesforce", source="sfdc", end=None, owner=None)
    settings = RuleSettings(
        selection=Selection(select=("TB101", "TB102")), scope={"sfdc": Selection(select=("TB101",))}
    )
    found = [(f.key, f.code) for f in evaluate([jira, opp], rules(), settings, NOW)]
    assert found == [("OPS-1", "TB102"), ("006A", "TB101")]  # by source, then key


def test_scope_cannot_widen_the_global_selection() -> None:
    settings = RuleSettings(selection=Selection(select=("TB101",)), scope={"jira-ops": Selection(select=("TB",))})
    assert [f.code for f in evaluate([make(end=None, owner=None)], rules(), settings, NOW)] == ["TB101"]


def test_scope_applies_to_set_rule_hits_by_the_record_they_land_on() -> None:
    records = [make(key=f"OPS-{k}", created=days_ago(50 - k)) for k in range(6)]
    settings = RuleSettings(selection=Selection(select=("TB107",)), scope={"jira-ops": Selection(ignore=("TB107",))})
    assert evaluate(records, rules(), settings, NOW) == []


# --- ordering, identity, waivers ---------------------------------------------------------------


def test_findings_are_ordered_by_record_then_code_whatever_the_input_order() -> None:
    records = [
        make(key="OPS-2", end=None, owner=None),
        make(key="OPS-10", size=Size.MAJOR),
        make(key="006A", system="salesforce", source="alpha", end=None),
    ]
    settings = RuleSettings(selection=Selection(select=("TB101", "TB102", "TB103")))
    forward = evaluate(records, rules(), settings, NOW)
    backward = evaluate(list(reversed(records)), rules(), settings, NOW)
    assert forward == backward
    assert [(f.source, f.key, f.code) for f in forward] == [
        ("alpha", "006A", "TB102"),
        ("jira-ops", "OPS-10", "TB103"),
        ("jira-ops", "OPS-2", "TB101"),
        ("jira-ops", "OPS-2", "TB102"),
    ]


def test_identity_is_stable_when_the_message_changes_and_differs_per_rule_and_record() -> None:
    record = make(key="OPS-1", stage=Stage.DECIDE, decision_owner=None, stage_entered=days_ago(10))
    (first,) = run("TB104", [record])
    (later,) = run("TB104", [record], now=days_ago(-5))
    assert first.message != later.message and first.identity == later.identity
    other = make(key="OPS-2", stage=Stage.DECIDE, decision_owner=None, stage_entered=days_ago(10))
    (second,) = run("TB104", [other])
    assert second.identity != first.identity
    assert re.fullmatch(r"[0-9a-f]{16}", first.identity)


def test_detail_separates_identities_of_one_rule_on_one_record() -> None:
    record = make(labels=frozenset({"tb-waive-TB103", "tb-waive-TB105"}))
    a, b = run("TB115", [record])
    assert a.identity != b.identity


def test_waivers_follow_the_configured_prefix() -> None:
    record = make(end=None, labels=frozenset({"skip-TB102-until-2026-12-31", "tb-waive-TB102-until-2026-12-31"}))
    (default,) = run("TB102", [record])
    (custom,) = run("TB102", [record], waiver_prefix="skip-")
    assert default.waived_by == "tb-waive-TB102-until-2026-12-31"
    assert custom.waived_by == "skip-TB102-until-2026-12-31"


def test_waived_findings_are_kept_and_marked() -> None:
    records = [make(key="OPS-1", end=None, labels=frozenset({"tb-waive-TB102-until-2026-12-31"})), make(end=None)]
    assert [f.waived_by is not None for f in run("TB102", records)] == [True, False]


def test_rules_get_mappings_and_prefix_in_their_context() -> None:
    seen: list[Context] = []

    def spy(index: Index, ctx: Context) -> list[Hit]:
        seen.append(ctx)
        return []

    rule = Rule("TB999", "spy", Severity.WARNING, "s", "w", "y", "f", spy, scope="set")
    settings = RuleSettings(waiver_prefix="skip-")
    evaluate([make()], {"TB999": rule}, settings, NOW, mappings={"jira-ops": "demo-jira"})
    assert seen[0].mappings == {"jira-ops": "demo-jira"}
    assert seen[0].waiver_prefix == "skip-"
    assert seen[0].now == NOW


def test_record_rules_only_see_their_systems() -> None:
    seen: list[str] = []

    def spy(initiative: Initiative, ctx: Context) -> list[Hit]:
        seen.append(initiative.key)
        return []

    rule = Rule("TB999", "spy", Severity.WARNING, "s", "w", "y", "f", spy, systems=("salesforce",))
    evaluate([make(key="OPS-1"), make(key="006A", system="salesforce")], {"TB999": rule}, RuleSettings(), NOW)
    assert seen == ["006A"]


# --- the built-in rules as a set -----------------------------------------------------------------


def test_builtin_rules_are_complete_and_well_formed() -> None:
    found = rules()
    assert list(found) == [f"TB{n}" for n in range(101, 118)]
    for code, rule in found.items():
        assert rule.code == code and re.match(CODE_PATTERN, code) and re.match(NAME_PATTERN, rule.name)
        assert rule.what and rule.why and rule.fix and rule.summary
        assert rule.scope in ("record", "set")
        for param in rule.params.values():
            assert param.coerce(param.default) == param.default  # defaults are valid values
            assert param.help
    assert len({r.name for r in found.values()}) == len(found)


def test_default_severities() -> None:
    errors = {c for c, r in rules().items() if r.severity is Severity.ERROR}
    assert errors == {"TB101", "TB102", "TB103", "TB104", "TB110", "TB111", "TB112"}


def test_healthy_records_give_no_findings_at_all() -> None:
    records = [make(), make(system="salesforce", source="sfdc", kind="New Business")]
    assert evaluate(records, rules(), RuleSettings(), NOW) == []


# --- registry ----------------------------------------------------------------------------------


def fake_rule(code: str, name: str) -> Rule:
    return Rule(code, name, Severity.WARNING, "s", "w", "y", "f", lambda i, c: [])


def manager(*plugins: tuple[str, list[Rule]]) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("trackerbridge")
    pm.add_hookspecs(Specs)
    for name, provided in plugins:

        def trackerbridge_rules(provided: list[Rule] = provided) -> list[Rule]:
            return provided

        pm.register(SimpleNamespace(trackerbridge_rules=hookimpl(trackerbridge_rules)), name=name)
    return pm


def use(monkeypatch: pytest.MonkeyPatch, pm: pluggy.PluginManager) -> None:
    monkeypatch.setattr(registry, "plugin_manager", lambda: pm)


def test_plugins_rules_are_loaded_sorted_by_code(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, manager(("b", [fake_rule("TB902", "beta")]), ("a", [fake_rule("TB901", "alpha")])))
    assert list(load_rules()) == ["TB901", "TB902"]


def test_duplicate_code_is_a_plugin_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, manager(("one", [fake_rule("TB901", "alpha")]), ("two", [fake_rule("TB901", "beta")])))
    with pytest.raises(PluginError, match="TB901 is registered twice"):
        load_rules()


def test_duplicate_name_is_a_plugin_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, manager(("one", [fake_rule("TB901", "alpha"), fake_rule("TB902", "alpha")])))
    with pytest.raises(PluginError, match="'alpha' is registered twice"):
        load_rules()


@pytest.mark.parametrize("code", ["TB1", "tb901", "XX901", "TB9011"])
def test_bad_code_is_a_plugin_error(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    use(monkeypatch, manager(("bad", [fake_rule(code, "alpha")])))
    with pytest.raises(PluginError, match="not of the form TB123"):
        load_rules()


@pytest.mark.parametrize("name", ["Alpha", "alpha_beta", "alpha--beta", "-alpha", "alpha-", ""])
def test_bad_name_is_a_plugin_error(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    use(monkeypatch, manager(("bad", [fake_rule("TB901", name)])))
    with pytest.raises(PluginError, match="not kebab-case"):
        load_rules()


def test_builtins_clash_with_a_plugin_reusing_their_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from trackerbridge.rules import builtin

    pm = manager(("thirdparty", [fake_rule("TB105", "my-past-end-date")]))
    pm.register(builtin, name="builtin_rules")
    use(monkeypatch, pm)
    with pytest.raises(PluginError, match="TB105 is registered twice"):
        load_rules()


def test_find_rule_by_code_or_name() -> None:
    found = rules()
    assert find_rule(found, "TB105") is found["TB105"]
    assert find_rule(found, "tb105") is found["TB105"]
    assert find_rule(found, "past-end-date") is found["TB105"]
    assert find_rule(found, "Past-End-Date") is found["TB105"]
    assert find_rule(found, "TB999") is None
    assert find_rule(found, "no-such-rule") is None


# --- a rule that crashes ---------------------------------------------------------------------------

SECRET = "s3cr3t-token-value"


def crashing(code: str = "TB901", *, on: str | None = None, scope: str = "record") -> Rule:
    """A rule that raises, on the record keyed `on` only (record rules), or always."""

    def check(subject: object, ctx: Context) -> list[Hit]:
        if scope == "set" or getattr(subject, "key", None) == on:
            raise ValueError(f"cannot parse 'x' from https://bot:{SECRET}@jira.example.com/rest/api/2/issue\nline 2")
        return [Hit(subject, "judged")]  # type: ignore[arg-type]

    return Rule(code, "fragile-rule", Severity.WARNING, "s", "w", "y", "f", check, scope=scope)


def test_a_rule_crashing_on_one_record_is_a_finding_there_and_judges_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from trackerbridge.rules.engine import RULE_CRASHED, crashed_refs

    bad, good = make(owner=None), make(owner=None)
    found = {**rules(), "TB901": crashing(on=bad.key)}
    with caplog.at_level("DEBUG", logger="trackerbridge.rules"):
        findings = evaluate([bad, good], found, RuleSettings(), NOW)
    by_record = {(f.key, f.code) for f in findings}
    # the other rules' verdicts stand on both records; the crashing rule judged the good one
    assert {(bad.key, "TB101"), (good.key, "TB101"), (good.key, "TB901"), (bad.key, "TB000")} <= by_record
    assert (bad.key, "TB901") not in by_record
    crash = next(f for f in findings if f.code == "TB000")
    assert crash.severity is Severity.ERROR and crash.rule == RULE_CRASHED.name and crash.detail == "TB901"
    assert crash.message.startswith("rule TB901 fragile-rule crashed: ValueError: cannot parse 'x' from https://")
    assert SECRET not in crash.message and "Traceback" not in crash.message and "\n" not in crash.message
    assert crashed_refs(findings) == {bad.ref}
    # the traceback is in the debug log, not in the finding
    logged = [r for r in caplog.records if r.name == "trackerbridge.rules"]
    assert len(logged) == 1 and logged[0].exc_info is not None and "TB901" in logged[0].getMessage()


def test_a_crash_message_is_cut_short() -> None:
    from trackerbridge.rules.engine import CRASH_MESSAGE_LIMIT, crash_message

    text = crash_message(crashing(), RuntimeError("x" * 1000))
    assert text.endswith("…") and len(text) < CRASH_MESSAGE_LIMIT + 60
    assert crash_message(crashing(), KeyError()) == "rule TB901 fragile-rule crashed: KeyError"


def test_a_set_rule_that_crashes_leaves_every_record_it_judges_without_its_verdict() -> None:
    jira_record, sf_record = make(), make(system="salesforce", source="sfdc", kind="New Business")
    found = {**rules(), "TB901": crashing(scope="set")}
    findings = evaluate([jira_record, sf_record], found, RuleSettings(), NOW)
    assert sorted((f.key, f.code) for f in findings) == sorted([(jira_record.key, "TB000"), (sf_record.key, "TB000")])


def test_a_crash_finding_respects_the_crashed_rules_scope() -> None:
    record = make()
    found = {**rules(), "TB901": crashing(on=record.key)}
    settings = RuleSettings(scope={"jira-ops": Selection(select=("TB101",))})
    assert evaluate([record], found, settings, NOW) == []


def test_assess_describes_the_crash_rule_so_reports_and_sarif_count_it() -> None:
    from trackerbridge.audit import assess
    from trackerbridge.health import Flag, HealthPolicy

    record = make()
    result = assess([record], {**rules(), "TB901": crashing(on=record.key)}, RuleSettings(), HealthPolicy(), NOW)
    assert result.counts_by_rule() == {"TB000": 1}
    assert result.health[record.ref].flag is Flag.RED  # incomplete is never shown as healthy
    assert assess([record], rules(), RuleSettings(), HealthPolicy(), NOW).rules.get("TB000") is None


# --- lifecycle: stable, preview, deprecated, removed; redirects ---------------------------------------


def lifecycle_rules() -> dict[str, Rule]:
    from dataclasses import replace

    from trackerbridge.rules.base import Status

    base = fake_rule("TB901", "new-check")
    return {
        **rules(),
        "TB901": replace(base, status=Status.PREVIEW),
        "TB902": replace(fake_rule("TB902", "old-check"), status=Status.DEPRECATED, replacement="TB903"),
        "TB903": replace(fake_rule("TB903", "better-check"), redirects=("TB950", "older-name")),
        "TB904": replace(fake_rule("TB904", "gone-check"), status=Status.REMOVED, replacement="TB903"),
    }


def test_preview_rules_run_only_when_selected_exactly_or_with_preview_on() -> None:
    found = lifecycle_rules()
    assert "TB901" not in [r.code for r in active_rules(found, RuleSettings())]
    assert "TB901" not in [r.code for r in active_rules(found, RuleSettings(Selection(select=("TB9",))))]
    assert [r.code for r in active_rules(found, RuleSettings(Selection(select=("TB901",))))] == ["TB901"]
    assert "TB901" in [r.code for r in active_rules(found, RuleSettings(preview=True))]


def test_removed_rules_never_run_and_deprecated_ones_do() -> None:
    active = [r.code for r in active_rules(lifecycle_rules(), RuleSettings(Selection(select=("TB904", "TB902"))))]
    assert active == ["TB902"]


def test_redirects_resolve_old_codes_and_names() -> None:
    found = lifecycle_rules()
    assert registry.resolve(found, "TB950") == (found["TB903"], "TB950")
    assert registry.resolve(found, "Older-Name") == (found["TB903"], "Older-Name")
    assert registry.resolve(found, "better-check") == (found["TB903"], None)
    assert registry.redirects(found) == {"TB950": "TB903", "older-name": "TB903"}
    assert find_rule(found, "tb950") is found["TB903"]


def test_a_waiver_naming_a_redirected_code_waives_the_new_one_and_warns() -> None:
    from trackerbridge.rules.base import RuleWarning

    found = lifecycle_rules()
    found["TB903"] = Rule(
        "TB903",
        "better-check",
        Severity.WARNING,
        "s",
        "w",
        "y",
        "f",
        lambda i, c: [Hit(i, "hit")],
        redirects=("TB950",),
    )
    records = [make(labels=frozenset({"tb-waive-TB950-until-2099-01-01"})) for _ in range(3)]
    settings = RuleSettings(Selection(select=("TB903",)), redirects=registry.redirects(found))
    with pytest.warns(RuleWarning, match="waivers naming TB950 are read as TB903") as caught:
        findings = evaluate(records, found, settings, NOW)
    assert [f.waived_by for f in findings] == ["tb-waive-TB950-until-2099-01-01"] * 3
    assert len({str(w.message) for w in caught}) == 1  # one text, so the CLI shows it once


def test_registry_checks_redirects_and_replacements(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from trackerbridge.rules.base import Status

    clash = replace(fake_rule("TB902", "beta"), redirects=("TB901",))
    use(monkeypatch, manager(("p", [fake_rule("TB901", "alpha"), clash])))
    with pytest.raises(PluginError, match="redirects 'TB901', which is rule TB901's own code or name"):
        load_rules()
    twice = [
        replace(fake_rule("TB901", "alpha"), redirects=("TB950",)),
        replace(fake_rule("TB902", "beta"), redirects=("tb950",)),
    ]
    use(monkeypatch, manager(("p", twice)))
    with pytest.raises(PluginError, match="'tb950' redirects to two rules: TB901 and TB902"):
        load_rules()
    orphan = replace(fake_rule("TB901", "alpha"), status=Status.REMOVED, replacement="TB999")
    use(monkeypatch, manager(("p", [orphan])))
    with pytest.raises(PluginError, match="names replacement TB999, which no plugin registers"):
        load_rules()
    use(monkeypatch, manager(("p", [replace(fake_rule("TB901", "alpha"), url="docs/tb901.md")])))
    with pytest.raises(PluginError, match="is not an http"):
        load_rules()


# --- documentation URLs -----------------------------------------------------------------------------


def test_every_builtin_rule_has_a_documentation_url_with_a_section_in_docs_rules_md() -> None:
    from pathlib import Path

    from trackerbridge.rules.base import DOCS
    from trackerbridge.rules.docs import builtin_rules, markdown

    page = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
    text = page.read_text(encoding="utf-8")
    assert text == markdown(builtin_rules()), "run: python -m trackerbridge.rules.docs"
    for rule in builtin_rules():
        assert rule.url == f"{DOCS}#{rule.code.lower()}-{rule.name}"
        assert f"\n## {rule.code} {rule.name}\n" in text  # the heading GitHub anchors as #tb101-owner-missing


# --- trackerbridge.yaml: rules by name, redirects, removed and deprecated ones ------------------------


def settings_for(project_dir: object, rules_yaml: str, found: dict[str, Rule] | None = None) -> object:
    from pathlib import Path

    from trackerbridge.config.project import Project
    from trackerbridge.rules.settings import rule_settings

    root = Path(str(project_dir))
    config = root / "trackerbridge.yaml"
    text = config.read_text(encoding="utf-8")
    head, tail = text.split("rules:\n", 1)
    rest = tail[tail.index("health:") :]
    config.write_text(f"{head}rules:\n{rules_yaml}{rest}", encoding="utf-8")
    return rule_settings(Project.load(root), found or rules())


def test_select_and_ignore_take_rule_names(project: object) -> None:
    settings = settings_for(
        project,
        "  select: [owner-missing, TB10]\n  ignore: [Past-End-Date]\n"
        "  severity: {stale: error}\n  params: {stuck-in-decide: {days: 9}}\n",
    )
    assert settings.selection == Selection(select=("TB101", "TB10"), ignore=("TB105",))  # type: ignore[attr-defined]
    assert settings.severity == {"TB106": Severity.ERROR}  # type: ignore[attr-defined]
    assert settings.params == {"TB104": {"days": 9}}  # type: ignore[attr-defined]


def test_an_unknown_rule_name_names_file_line_and_key(project: object) -> None:
    from trackerbridge.config.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        settings_for(project, "  select: [TB]\n  ignore: [owner-mising]\n")
    text = str(caught.value)
    assert "trackerbridge.yaml:6" in text and "rules.ignore[0]" in text
    assert "'owner-mising' matches no rule" in text and "did you mean 'owner-missing'?" in text


def test_a_redirected_code_in_select_works_and_warns(project: object) -> None:
    from trackerbridge.rules.base import RuleWarning

    with pytest.warns(RuleWarning) as caught:
        settings = settings_for(project, "  select: [TB1, TB950]\n  ignore: [older-name]\n", lifecycle_rules())
    assert settings.selection.select == ("TB1", "TB903")  # type: ignore[attr-defined]
    assert settings.selection.ignore == ("TB903",)  # type: ignore[attr-defined]
    assert {str(w.message) for w in caught} == {
        "'TB950' is now TB903 (better-check): write TB903 in trackerbridge.yaml",
        "'older-name' is now TB903 (better-check): write TB903 in trackerbridge.yaml",
    }


def test_selecting_a_removed_rule_is_an_error_naming_its_replacement(project: object) -> None:
    from trackerbridge.config.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        settings_for(project, "  select: [TB1, gone-check]\n  ignore: [TB902]\n", lifecycle_rules())
    text = str(caught.value)
    assert "trackerbridge.yaml:5" in text and "rules.select[1]" in text
    assert "TB904 (gone-check) was removed" in text and "use TB903 (better-check) instead" in text
    settings_for(project, "  select: [TB]\n  ignore: [TB904, TB902]\n", lifecycle_rules())  # ignoring it is fine


def test_a_deprecated_rule_that_runs_warns_and_one_ignored_does_not(project: object) -> None:
    import warnings

    from trackerbridge.rules.base import RuleWarning

    with pytest.warns(RuleWarning, match=r"TB902 \(old-check\) is deprecated .*use TB903 \(better-check\) instead"):
        settings_for(project, "  select: [TB]\n", lifecycle_rules())
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuleWarning)
        settings_for(project, "  select: [TB]\n  ignore: [old-check]\n", lifecycle_rules())


def test_preview_in_the_config_runs_preview_rules(project: object) -> None:
    found = lifecycle_rules()
    off = settings_for(project, "  select: [TB]\n  ignore: [TB902]\n", found)
    on = settings_for(project, "  select: [TB]\n  ignore: [TB902]\n  preview: true\n", found)
    assert "TB901" not in [r.code for r in active_rules(found, off)]  # type: ignore[arg-type]
    assert "TB901" in [r.code for r in active_rules(found, on)]  # type: ignore[arg-type]


def test_a_bad_parameter_value_is_a_configuration_error_not_a_crash() -> None:
    from trackerbridge.rules.base import ParamError

    with pytest.raises(ParamError, match=r"^rules\.params\.TB105: unknown time zone 'Mars/Olympus'") as caught:
        run("TB105", [make(end=days_ago(30).date())], params={"timezone": "Mars/Olympus"})
    assert caught.value.exit_code == 2
