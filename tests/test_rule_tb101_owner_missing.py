from rulekit import make, messages, run
from trackerbridge.model import Stage


def test_active_without_owner_is_reported() -> None:
    assert messages(run("TB101", [make(owner=None)])) == ["no owner"]


def test_owned_or_finished_initiatives_pass() -> None:
    assert run("TB101", [make(), make(owner=None, stage=Stage.DONE), make(owner=None, stage=Stage.CANCELLED)]) == []


def test_unknown_stage_counts_as_active() -> None:
    assert len(run("TB101", [make(owner=None, stage=None)])) == 1
