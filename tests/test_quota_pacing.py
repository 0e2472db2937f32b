"""Quota pacing: a sync uses at most `quota.share` (default 50%) of what is left of each tracker's API
allowance, read from the answers' headers (Salesforce's `Sforce-Limit-Info`, Jira's `X-RateLimit-*`);
past it the run stops cleanly, before the tracker refuses anything, and the next run carries on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from trackerbridge.cli import main
from trackerbridge.sandbox import Sandbox
from trackerbridge.state.store import StateStore


def sync(sb: Sandbox, project: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, ["sync", "--project", str(project), "--as-of", sb.clock.now().isoformat(), *args], env=sb.info.as_env()
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def converged(sb: Sandbox, project: Path) -> bool:
    code, out, err = sync(sb, project, "--dry-run")
    assert code == 0, err[-2000:]
    return "0 records to change" in out


def test_salesforce_pacing_stops_at_half_of_the_daily_allowance_left(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    reference = sandbox_factory(size=800)  # 500 opportunities to write
    start = reference.salesforce.api_requests_used
    other = project.parent / "reference"
    other.mkdir()
    for part in ("connectors", "mappings", "trackerbridge.yaml"):
        (other / part).symlink_to(project / part)
    code, _, err = sync(reference, other)
    assert code == 0, err[-2000:]
    needed = reference.salesforce.api_requests_used - start  # what a whole first sync costs
    sb = sandbox_factory(size=800)
    left = needed + 1  # half of it is not enough
    sb.salesforce.daily_api_limit = sb.salesforce.api_requests_used + left
    before = sb.salesforce.api_requests_used
    code, _, err = sync(sb, project)
    used = sb.salesforce.api_requests_used - before
    assert code == 3, err[-2000:]
    assert "paused at the run's share of the Salesforce daily API allowance" in err, err[-2000:]
    assert used <= 1 + left // 2, f"{used} of {left} calls used"  # the first answer tells what is left
    assert not any(r.service == "salesforce" and r.status == 403 for r in sb.accounting.records())
    with StateStore.open(f"sqlite:///{project / '.trackerbridge' / 'state.db'}") as store:
        assert all(r.status == "stopped" for r in store.runs())  # none, if the pause came while reading
    sb.salesforce.daily_api_limit = 10**9  # a new day
    sb.clock.advance(timedelta(minutes=5))
    code, _, err = sync(sb, project)
    assert code == 0, err[-2000:]
    assert converged(sb, project)


def test_jira_pacing_keeps_half_of_the_rate_limit_and_the_next_runs_carry_on(
    sandbox_factory: Callable[..., Sandbox], project: Path
) -> None:
    limit = 60
    sb = sandbox_factory(size=200, jira_rate_limit=limit)
    runs = 0
    while True:
        runs += 1
        sb.accounting.reset()
        code, _, err = sync(sb, project)
        jira = [r for r in sb.accounting.records() if r.service == "jira"]
        assert not any(r.status == 429 for r in jira), "the run went past its share into Jira's limit"
        assert len(jira) <= 1 + (limit - 1) // 2, len(jira)
        if code == 0:
            break
        assert code == 3 and "paused at the run's share of Jira's API rate limit" in err, err[-2000:]
        assert runs < 12, "the runs do not make progress"
        sb.clock.advance(timedelta(hours=1))  # the next window
    assert runs > 1, "the sync never needed pacing: the test proves nothing"
    sb.clock.advance(timedelta(hours=1))
    assert converged(sb, project)


def test_share_1_leaves_it_to_the_trackers_limits(sandbox_factory: Callable[..., Sandbox], project: Path) -> None:
    with (project / "trackerbridge.yaml").open("a") as fh:
        fh.write("quota:\n  share: 1\n")
    sb = sandbox_factory(size=200, jira_rate_limit=1000)
    code, _, err = sync(sb, project)
    assert code == 0, err[-2000:]
