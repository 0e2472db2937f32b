from datetime import datetime, timedelta, timezone

from rulekit import GRACE, day, days_ago, make, messages, run
from trackerbridge.model import Change, Comment, Initiative, Stage
from trackerbridge.slips import SlipPolicy, slip_of

BERLIN = timezone(timedelta(hours=2))


def moved(before: str | None = "2026-10-01", after: str = "2026-11-15", at: datetime | None = None) -> Change:
    return Change(at or days_ago(5), "end", day(before) if before else None, day(after), GRACE)


def reason(text: str | None, at: datetime | None = None, before: str | None = None) -> Change:
    return Change(at or days_ago(5), "slip_reason", before, text, GRACE)


def slipped(*history: Change, end: str = "2026-11-15", **attrs: object) -> Initiative:
    return make(history=history, end=day(end), **attrs)


def test_end_date_moved_later_without_a_reason_is_reported() -> None:
    findings = run("TB117", [slipped(moved())])
    assert messages(findings) == ["end date slipped 2026-10-01 → 2026-11-15 (+45 days, moved once) without a reason"]
    assert findings[0].detail == "end"
    assert findings[0].severity.value == "warning"


def test_a_reason_in_the_same_edit_passes() -> None:
    at = days_ago(5)
    assert run("TB117", [slipped(moved(at=at), reason("Vendor late", at=at))]) == []


def test_a_reason_added_later_passes() -> None:
    assert run("TB117", [slipped(moved(at=days_ago(5)), reason("Customer asked", at=days_ago(1)))]) == []


def test_a_reason_long_before_the_move_does_not_cover_it() -> None:
    findings = run("TB117", [slipped(moved(at=days_ago(5)), reason("Old note", at=days_ago(9)))])
    assert len(findings) == 1


def test_a_reason_shortly_before_the_move_covers_it_and_the_window_is_a_parameter() -> None:
    record = slipped(moved(at=days_ago(5)), reason("Planned slip", at=days_ago(5.5)))
    assert run("TB117", [record]) == []
    assert len(run("TB117", [record], params={"reason_window_hours": 6})) == 1


def test_moved_twice_needs_a_reason_for_the_second_move() -> None:
    history = (
        moved("2026-09-01", "2026-10-01", days_ago(20)),
        reason("Supplier delay", at=days_ago(20)),
        moved("2026-10-01", "2026-12-24", days_ago(2)),
    )
    assert messages(run("TB117", [slipped(*history, end="2026-12-24")])) == [
        "end date slipped 2026-09-01 → 2026-12-24 (+114 days, moved 2 times) without a reason"
    ]
    covered = (*history, reason("Supplier delay again", at=days_ago(1), before="Supplier delay"))
    assert run("TB117", [slipped(*covered, end="2026-12-24")]) == []


def test_time_zones_compare_as_instants() -> None:
    # 22:30 UTC the move; the reason at 00:30 the next calendar day in Berlin is the same instant
    move_at = datetime(2026, 10, 10, 22, 30, tzinfo=timezone.utc)
    same = datetime(2026, 10, 11, 0, 30, tzinfo=BERLIN)
    assert run("TB117", [slipped(moved(at=move_at), reason("Scope grew", at=same))]) == []
    # a reason that looks later on the clock (23:00 +02:00) is 21:00 UTC: 90 minutes before, outside a 1-hour window
    earlier = datetime(2026, 10, 10, 23, 0, tzinfo=BERLIN)
    assert (
        run("TB117", [slipped(moved(at=move_at), reason("Scope grew", at=earlier))], params={"reason_window_hours": 1})
        != []
    )


def test_a_cleared_reason_is_no_reason() -> None:
    history = (
        moved(at=days_ago(5)),
        reason("Vendor late", at=days_ago(5)),
        reason(None, at=days_ago(2), before="Vendor late"),
    )
    assert len(run("TB117", [slipped(*history)])) == 1


def test_without_reason_history_the_current_reason_counts() -> None:
    assert run("TB117", [slipped(moved(), extra={"slip_reason": "Agreed with the customer"})]) == []
    assert len(run("TB117", [slipped(moved(), extra={"slip_reason": "  "})])) == 1


def test_reason_keyword_parameter() -> None:
    at = days_ago(5)
    record = slipped(moved(at=at), reason("see comment", at=at))
    assert len(run("TB117", [record], params={"reason_keyword": "Slip:"})) == 1
    ok = slipped(moved(at=at), reason("slip: vendor late", at=at))
    assert run("TB117", [ok], params={"reason_keyword": "Slip:"}) == []


def test_pulled_in_first_set_or_unchanged_dates_pass() -> None:
    assert run("TB117", [slipped(moved("2026-12-01", "2026-11-15"))]) == []
    assert run("TB117", [slipped(moved(None, "2026-11-15"))]) == []
    assert run("TB117", [make()]) == []


def test_moved_back_to_the_baseline_passes() -> None:
    history = (moved("2026-10-01", "2026-11-15", days_ago(9)), moved("2026-11-15", "2026-10-01", days_ago(3)))
    assert run("TB117", [slipped(*history, end="2026-10-01")]) == []


def test_a_mapped_target_date_is_the_baseline() -> None:
    findings = run("TB117", [slipped(end="2026-11-15", extra={"target_date": day("2026-11-01")})])
    assert messages(findings) == ["end date slipped 2026-11-01 → 2026-11-15 (+14 days) without a reason"]
    assert (
        run("TB117", [slipped(end="2026-11-15", extra={"target_date": day("2026-11-01"), "slip_reason": "Holidays"})])
        == []
    )


def test_min_days_parameter() -> None:
    record = slipped(moved("2026-11-10", "2026-11-15"))
    assert len(run("TB117", [record])) == 1
    assert run("TB117", [record], params={"min_days": 7}) == []


def test_only_active_initiatives() -> None:
    assert run("TB117", [slipped(moved(), stage=Stage.DONE), slipped(moved(), stage=Stage.CANCELLED)]) == []
    assert len(run("TB117", [slipped(moved(), stage=Stage.DECIDE)])) == 1


def test_waiver_applies() -> None:
    (finding,) = run("TB117", [slipped(moved(), labels=frozenset({"tb-waive-TB117-until-2026-10-31"}))])
    assert finding.waived_by == "tb-waive-TB117-until-2026-10-31"


def test_slip_of_reports_baseline_days_moves_and_reason() -> None:
    history = (
        moved(None, "2026-09-01", days_ago(30)),
        moved("2026-09-01", "2026-10-01", days_ago(20)),
        moved("2026-10-01", "2026-11-15", days_ago(2)),
        reason("Late parts", at=days_ago(2)),
    )
    slip = slip_of(slipped(*history), SlipPolicy())
    assert slip is not None
    assert (slip.baseline, slip.baseline_from, slip.days, slip.moves, slip.reason) == (
        day("2026-09-01"),
        "history",
        75,
        2,
        "Late parts",
    )
    assert slip.last_moved == days_ago(2)
    assert slip_of(make(end=None), SlipPolicy()) is None


def comments(*said: tuple[str, datetime]) -> tuple[Comment, ...]:
    return tuple(Comment(at, text, GRACE) for text, at in said)


def test_a_comment_with_the_keyword_at_or_after_the_move_is_the_reason() -> None:
    params = {"reason_keyword": "slip:"}
    after = slipped(moved(at=days_ago(5)), extra={"slip_reason": comments(("Slip: vendor late", days_ago(4)))})
    assert run("TB117", [after], params=params) == []
    assert slip_of(after, SlipPolicy(reason_keyword="slip:")).reason == "Slip: vendor late"
    shortly_before = slipped(moved(at=days_ago(5)), extra={"slip_reason": comments(("slip: plan", days_ago(5.5)))})
    assert run("TB117", [shortly_before], params=params) == []


def test_a_comment_without_the_keyword_or_long_before_the_move_is_no_reason() -> None:
    params = {"reason_keyword": "slip:"}
    chatter = slipped(moved(at=days_ago(5)), extra={"slip_reason": comments(("looks late", days_ago(1)))})
    assert len(run("TB117", [chatter], params=params)) == 1
    old = slipped(moved(at=days_ago(5)), extra={"slip_reason": comments(("slip: earlier move", days_ago(20)))})
    assert len(run("TB117", [old], params=params)) == 1


def test_a_later_comment_without_the_keyword_takes_no_reason_away() -> None:
    said = comments(("slip: customer asked", days_ago(4)), ("thanks", days_ago(1)))
    record = slipped(moved(at=days_ago(5)), extra={"slip_reason": said})
    assert slip_of(record, SlipPolicy(reason_keyword="slip:")).reason == "slip: customer asked"


def test_a_second_move_needs_a_comment_after_the_first_ones_window() -> None:
    history = (moved("2026-10-01", "2026-10-20", at=days_ago(30)), moved("2026-10-20", "2026-11-15", at=days_ago(3)))
    record = slipped(*history, extra={"slip_reason": comments(("slip: first move", days_ago(29)))})
    assert len(run("TB117", [record], params={"reason_keyword": "slip:"})) == 1


def test_comment_times_compare_as_instants() -> None:
    at = datetime(2026, 10, 28, 12, 0, tzinfo=timezone.utc)
    in_berlin = datetime(2026, 10, 28, 12, 30, tzinfo=BERLIN)  # 10:30 UTC: 1.5 hours before the move
    record = slipped(moved(at=at), extra={"slip_reason": comments(("slip: planned", in_berlin))})
    assert run("TB117", [record], params={"reason_keyword": "slip:", "reason_window_hours": 2}) == []
    assert len(run("TB117", [record], params={"reason_keyword": "slip:", "reason_window_hours": 1})) == 1
