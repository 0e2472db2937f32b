"""The HTML report for the demo organisation, opened in a real headless browser (Debian's chromium): it renders
(a screenshot), shows the headline figures, and a record titled with a script shows the script as text and runs
nothing. Without chromium the tests are skipped with the command that installs it; under CI (`CI=true`, which
`.ci/run` sets after installing chromium) a missing browser is a failure, so CI can never pass by skipping."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from trackerbridge.audit import run_audit
from trackerbridge.cli import main
from trackerbridge.config.project import Project
from trackerbridge.report.model import build_report, headline_metrics
from trackerbridge.sandbox import Sandbox
from trackerbridge.state.store import StateStore

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = "<script>document.title='pwned'</script>"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        hint = (
            "Debian's chromium is not on PATH: install it with `sudo apt-get update && sudo apt-get install -y "
            "chromium` (.ci/run does this before the tests)"
        )
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(hint)
        pytest.skip(hint)
    return found


def browse(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done


def test_a_missing_chromium_skips_with_the_install_command_but_fails_under_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no chromium on it
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y chromium"):
        chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        chromium()


def test_the_html_report_in_a_real_browser(sandbox: Sandbox, tmp_path: Path) -> None:
    chromium()  # skip (or, under CI, fail) before the work when there is no browser
    project = Project.load(ROOT)
    first = run_audit(project, [], sandbox.anchor, sandbox.info.as_env())
    target = build_report(first).sunset[0].record.key  # the first row of a table the page shows
    sandbox.jira_data.issues[target].fields["summary"] = PAYLOAD
    state = tmp_path / "state.db"
    with StateStore.open(f"sqlite:///{state}") as store:  # six weekly syncs, so the sparklines have a shape
        figures = headline_metrics(first)
        for week in range(6, 0, -1):
            at = sandbox.anchor - timedelta(days=7 * week)
            past = {
                k: v + week * 2 if isinstance(v, int) else round(max(0.0, v - week * 0.015), 4)
                for k, v in figures.items()
            }
            store.finish_run(store.begin_run("sync", at), at, "ok", past)

    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--pull",
            "--format",
            "html",
            "--output",
            str(page),
            "--project",
            str(ROOT),
            "--as-of",
            sandbox.anchor.isoformat(),
            "--state",
            f"sqlite:///{state}",
        ],
        env=sandbox.info.as_env(),
    )
    assert result.exit_code == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in html

    shot = tmp_path / "report.png"
    browse(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000, len(data)

    dom = browse(tmp_path, "--dump-dom", page.as_uri()).stdout
    title = re.search(r"<title>(.*?)</title>", dom)
    assert title is not None and title.group(1) == "Initiative sprawl report · 2 November 2026"
    assert "pwned" not in title.group(1)
    assert "<script" not in dom.lower()
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # shown as text, in its row
    assert re.search(rf">{re.escape(target)}</a>.*?&lt;script&gt;", dom)
    cards = dict(re.findall(r'<div class="label"><span>([^<]+)</span></div><div class="value">([^<]+)</div>', dom))
    assert cards == {
        "Active initiatives": "300",
        "With an owner": "90%",
        "Major with an integrator": "70%",
        "With an end date": "88%",
        "Overdue": "30",
        "Stuck in decide": "24",
    }
    assert re.search(r'class="chip red">Red</span> initiatives</span></div><div class="value">105<', dom)
    assert "down 2 since 26 Oct" in dom  # the trend from the stored runs
    assert dom.count("<polyline") == 9  # one sparkline per headline figure


PROBE = """<script>
const boxes = [...document.querySelectorAll('.scroll')];
const tables = [...document.querySelectorAll('table')];
const probe = {viewport: window.innerWidth, page: document.documentElement.scrollWidth,
  tables: tables.length, boxed: tables.filter(t => t.parentElement.classList.contains('scroll')).length,
  scrolling: boxes.filter(b => b.scrollWidth > b.clientWidth + 1).length,
  lastHeaderReachable: tables.every(t => { const th = t.querySelector('thead th:last-child');
    return !th || th.offsetLeft + th.offsetWidth <= t.parentElement.scrollWidth + 1; })};
parent.document.body.setAttribute('data-probe', JSON.stringify(probe));
</script>"""


def phone(page: str, width: int = 400) -> str:
    """A page showing `page` in a frame as wide as a phone: its media queries and layout see `width` pixels
    (headless chromium's own window is at least 500 wide). srcdoc frames share the harness's origin."""
    import html as htmllib

    return (
        f'<!DOCTYPE html><html><body style="margin:0"><iframe style="border:0" width="{width}" height="3000" '
        f'srcdoc="{htmllib.escape(page, quote=True)}"></iframe></body></html>'
    )


def test_the_html_report_at_phone_width_scrolls_tables_sideways(sandbox: Sandbox, tmp_path: Path) -> None:
    """At 400 px every table keeps all its columns in a box that scrolls sideways; the page itself never gets wider
    than the phone. A screenshot at that width, and a probe (in a copy of the page without the CSP, since the
    report itself runs no script) that measures the layout chromium computed."""
    import html as htmllib
    import io
    import json

    from trackerbridge.report import html

    chromium()
    result = run_audit(Project.load(ROOT), [], sandbox.anchor, sandbox.info.as_env())
    out = io.StringIO()
    html.render(build_report(result, read_at=sandbox.anchor), out)
    page = tmp_path / "phone.html"
    page.write_text(phone(out.getvalue()), encoding="utf-8")
    shot = tmp_path / "phone.png"
    browse(tmp_path, f"--screenshot={shot}", "--window-size=400,3000", page.as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    assert int.from_bytes(data[16:20], "big") == 400  # the PNG's width: a phone's

    probed = tmp_path / "probe.html"
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", out.getvalue())
    probed.write_text(phone(text.replace("</body>", PROBE + "</body>")), encoding="utf-8")
    dom = browse(tmp_path, "--dump-dom", "--virtual-time-budget=5000", probed.as_uri()).stdout
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, dom[-2000:]
    probe = json.loads(htmllib.unescape(found.group(1)))
    assert probe["viewport"] == 400, probe
    assert probe["page"] <= probe["viewport"], probe  # nothing pushes the page wider than the phone
    assert probe["tables"] >= 5 and probe["boxed"] == probe["tables"], probe
    assert probe["scrolling"] >= 3 and probe["lastHeaderReachable"], probe
