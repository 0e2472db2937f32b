"""The benchmark suite (benchmarks/run.py) at N=300, no latency, in-process: exact API call counts
against the computed minimum, so the suite never rots. Where trackerbridge misses an issue-7
target today, the exact current number is asserted and the miss is named; benchmarks/RESULTS.md
says why."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from trackerbridge.sandbox import Sandbox, SandboxConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.run import People, bench_connector, minimum  # noqa: E402
from benchmarks.worker import run_phase  # noqa: E402


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("bench")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    anchor = datetime(2026, 1, 5, tzinfo=timezone.utc)  # fixed data and clock: exact, repeatable counts
    with Sandbox(SandboxConfig(port=0, size=300, anchor=anchor, clock=anchor)) as sb:
        env = sb.info.as_env()
        people = People(env, "cloud")
        people.load()
        for system in ("jira", "salesforce"):
            for r in bench_connector(
                sb,
                lambda job: run_phase(job, env),
                people,
                system,
                "cloud",
                300,
                workdir,
                baseline=False,
                log=lambda _: None,
                start=anchor.replace(hour=9),
            ):
                out[(r["system"], r["case"])] = r
    return out


def test_minimum_follows_the_real_apis_page_sizes() -> None:
    assert minimum("jira", "cloud", 10_000, 0, 0) == {"fixed": 2, "pages": 100, "reads": 102, "writes": 0}
    assert minimum("jira", "cloud", 0, 0, 0, cold=False) == {"fixed": 0, "pages": 1, "reads": 1, "writes": 0}
    assert minimum("jira", "datacenter", 10_000, 5, 2)["reads"] == 12
    assert minimum("jira", "datacenter", 10_000, 5, 2)["writes"] == 5
    # Salesforce writes through Composite: 5 collections of 200, 1000 records an API call; who we are (UserInfo)
    # and the describe are the fixed calls
    assert minimum("salesforce", "cloud", 6_250, 401, 0) == {"fixed": 2, "pages": 4, "reads": 6, "writes": 1}
    assert minimum("salesforce", "cloud", 6_250, 6_250, 0)["writes"] == 7
    assert minimum("salesforce", "cloud", 6_250, 1_000, 1_001)["writes"] == 1 + 2


def test_full_reads_are_at_the_minimum_for_jira(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    for case in ("audit", "sync-full"):
        r = rows[("jira-cloud", case)]
        assert r["records"] == 300
        assert r["reads"] == r["minimum"]["reads"] == 5  # serverInfo, field + 3 pages of 100
        assert not any("myself" in e for e in r["read_endpoints"])


def test_salesforce_full_read_is_at_the_minimum(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    for case in ("audit", "sync-full"):
        r = rows[("salesforce", case)]
        assert r["reads"] == r["minimum"]["reads"] == 3  # describe, who we are (UserInfo), one query page
        assert sum("userinfo" in e for e in r["read_endpoints"]) == 1


def test_first_sync_writes_at_the_minimum(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    jira = rows[("jira-cloud", "sync-full")]
    assert jira["changes"] == 300
    # Jira Cloud (issue 15): 13 bulk edits of the payloads the cost model finds cheaper in bulk (`choose`: 4
    # issues with one payload are, when the stamp request they need is shared), each polled once; the stamps of
    # their 272 issues in 3 bulk property sets (each 303 followed to its task); 28 PUTs for the payloads a task
    # would cost more than. The minimum is that; ours adds the Bulk change permission and the health field's
    # option ids (its context, its options: the field was empty everywhere, so the read gave none).
    assert jira["jira_bulk"]["stamped"] == 272 and jira["jira_bulk"]["puts"] == 28
    assert jira["minimum"]["writes"] == 13 * 2 + 3 * 2 + 28 == 60
    assert jira["writes"] == jira["minimum"]["writes"] + 3 == 63
    w = {k.removeprefix("jira ").replace("/rest/api/2/", ""): n for k, n in jira["write_endpoints"].items()}
    assert w == {
        "POST bulk/issues/fields": 13,
        "GET bulk/queue/{taskId}": 13,
        "POST issue/properties/multi [303]": 3,
        "GET task/{taskId}": 3,
        "PUT issue/{key}": 28,
        "GET mypermissions": 1,
        "GET field/{field}/context": 1,
        "GET field/{field}/context/{context}/option": 1,
    }
    sf = rows[("salesforce", "sync-full")]
    assert sf["changes"] == 188
    assert sf["writes"] == sf["minimum"]["writes"] == 1  # ceil(188 / 1000)


def test_no_change_runs_write_nothing_and_read_one_page(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    for system in ("jira-cloud", "salesforce"):
        for case in ("sync-echo", "sync-nochange", "sync-1pct-echo", "sync-10pct-echo"):
            assert rows[(system, case)]["writes"] == 0, (system, case)
    # The run right after a sync re-reads trackerbridge's own writes once (the echo); after that the
    # watermark has moved past them and an idle run reads one empty page.
    assert rows[("jira-cloud", "sync-echo")]["records_read"] == 300
    assert rows[("jira-cloud", "sync-nochange")]["records_read"] == 0
    assert rows[("salesforce", "sync-nochange")]["records_read"] == 0
    # The catalog calls' answers are kept from the first sync: an idle run is one empty search page.
    for system in ("jira-cloud", "salesforce"):
        for case in ("sync-nochange", "sync-1pct-echo", "sync-10pct-echo"):
            assert rows[(system, case)]["reads"] == rows[(system, case)]["minimum"]["reads"] == 1, (system, case)


def test_incremental_writes(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    one = rows[("jira-cloud", "sync-1pct")]
    assert one["writes"] == one["changes"] == 1
    ten = rows[("jira-cloud", "sync-10pct")]
    assert ten["changes"] == 16
    # one PUT per changed issue: the turned-red comments ride in the edits, unread and unsearched
    assert ten["notes"] == 9
    assert ten["writes"] == ten["minimum"]["writes"] == ten["changes"] == 16
    assert not any("comment" in e or "user" in e for e in {**ten["write_endpoints"], **ten["read_endpoints"]})
    sf = rows[("salesforce", "sync-10pct")]
    assert sf["writes"] == sf["minimum"]["writes"] == 1


def test_salesforce_against_the_efficient_script(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    """The script a careful user writes: one query, then Composite with 1000 records a call. It keeps no
    state, so it writes every record; ours writes what changed and is never more calls than it."""
    it = rows[("salesforce", "efficient-10pct")]
    assert it["records"] == it["written"] == 188
    assert (it["reads"], it["writes"]) == (1, 1)  # query_all of one page; ceil(188 / 1000) composites
    assert it["write_endpoints"] == {"salesforce POST /services/data/v{version}/composite": 1}
    ours = rows[("salesforce", "sync-10pct")]
    assert ours["reads"] + ours["writes"] <= it["reads"] + it["writes"]
    assert it["ours_over_baseline"]["calls"] <= 1.0


def test_jira_cloud_minimum_reads_take_the_two_phase_read_where_it_is_fewer_calls() -> None:
    """Issue 15: reads min(ceil(N/100), ceil(N/5000) + ceil(N/B)); B is 1000 for explicit fields without
    changelogs, 100 otherwise (then the single pass is the minimum)."""
    assert minimum("jira", "cloud", 10_000, 0, 0, batch=1000) == {"fixed": 2, "pages": 12, "reads": 14, "writes": 0}
    assert minimum("jira", "cloud", 10_000, 0, 0, batch=100)["pages"] == 100
    assert minimum("jira", "cloud", 100, 0, 0, batch=1000)["pages"] == 1  # one page of 100 beats ids + fetch
    assert minimum("jira", "cloud", 100_000, 0, 0, batch=1000)["pages"] == 20 + 100
    assert minimum("jira", "datacenter", 10_000, 0, 0, batch=1000)["pages"] == 10  # no bulk fetch there


def test_a_full_read_without_changelogs_is_two_phase(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    r = rows[("jira-cloud", "audit-nohistory")]
    assert r["records"] == 300
    # serverInfo, field; the single pass's first page (100, more to come), one ids-only page, one bulk fetch
    # of the other 200. The minimum is 2 + min(3, 1 + 1): ours is one call over it (the first page, asked
    # before N is known), and the same calls as the single pass with changelogs (audit: 5).
    assert r["read_endpoints"] == {
        "jira GET /rest/api/2/serverInfo": 1,
        "jira GET /rest/api/2/field": 1,
        "jira GET /rest/api/2/search/jql": 2,
        "jira POST /rest/api/2/issue/bulkfetch": 1,
    }
    assert r["minimum"]["reads"] == 4 and r["reads"] == 5 == rows[("jira-cloud", "audit")]["reads"]
    assert r["writes"] == 0


def test_jira_cloud_write_minimum_counts_the_stamps_on_their_own(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    m = rows[("jira-cloud", "sync-full")]["minimum"]
    # bulk: 13 task groups x (submit + poll); stamps: ceil(272 / 100) x (submit + poll); 28 PUTs
    assert (m["bulk"], m["stamps"], m["puts"]) == (26, 6, 28) and m["writes"] == 60


def test_jira_against_the_efficient_script(rows: dict[tuple[str, str], dict[str, Any]]) -> None:
    """The script a careful user writes: enhanced search of the health field (json_result=True), the field's
    option ids, one bulk edit per health value, polled. It keeps no state, so every run writes every issue's
    flag, and it writes nothing else (no reasons, no labels, no stamps, no notes)."""
    it = rows[("jira-cloud", "efficient-10pct")]
    assert it["records"] == it["written"] == 300
    assert it["read_endpoints"] == {
        "jira GET /rest/api/2/serverInfo": 1,
        "jira GET /rest/api/2/field": 2,  # ours, and the client's own to resolve field names
        "jira GET /rest/api/2/search/jql": 3,
    }
    assert it["write_endpoints"] == {
        "jira POST /rest/api/2/bulk/issues/fields": 3,
        "jira GET /rest/api/2/bulk/queue/{taskId}": 3,
        "jira GET /rest/api/2/field/{field}/context": 1,
        "jira GET /rest/api/2/field/{field}/context/{context}/option": 1,
    }
    ratio = it["ours_over_efficient"]
    # Missed at N=300 (issue 15's "ours <= 1.0x the efficient script in every phase"): the first sync writes
    # reasons and labels (13 payload groups, 28 issues of small ones as PUTs) and stamps (6), where the script
    # writes one flag in 3 tasks: 68 calls to its 14. The 10%-changed run: 17 to its 14 (16 PUTs: 9 carry a note).
    full = ratio["sync-full"]
    assert (full["calls"], full["reads"], full["writes"]) == (4.8571, 0.8333, 7.875)
    assert (ratio["sync-10pct"]["calls"], ratio["sync-10pct"]["reads"]) == (1.2143, 0.1667)
