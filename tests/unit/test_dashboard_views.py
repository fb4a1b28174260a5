"""View models of the dashboard: schedule in words, search / filter / sort of jobs, the duration chart."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jobdeck.dashboard.views import JobRow, duration_chart, filter_rows, schedule_words, sort_rows
from jobdeck.models import Execution, ExecutionStatus

T0 = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)


def test_schedules_in_words_in_both_languages() -> None:
    assert schedule_words("*/5 9-15 * * 1-5", "Asia/Shanghai", "en") == "every 5 minutes, 09:00–15:59, Mon–Fri"
    assert schedule_words("*/5 9-15 * * 1-5", "Asia/Shanghai", "zh") == "每 5 分钟，09:00–15:59，周一至周五"
    assert schedule_words("18:00", "UTC", "en") == "daily at 18:00"
    assert schedule_words("every 30s", "UTC", "zh") == "每 30 秒"
    assert schedule_words("not a schedule", "UTC", "en") == "not a schedule"


def row(job_id: str, **changes: object) -> JobRow:
    base = JobRow(
        id=job_id, name=job_id, display_name=None, description=None, schedule="@daily", schedule_words="",
        overridden=False, timezone="UTC", tags=(), paused=False, running=0, next_run=None, last=None,
        success_rate=None,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


ROWS = [
    row("quotes_sync", display_name="Quotes sync", tags=("quotes", "sync"), next_run=T0, success_rate=99.0),
    row("daily_report", description="Statistics after the CLOSE", paused=True, success_rate=50.0),
    row("status_check", name="check_sources", tags=("ops",), running=2, next_run=T0 - timedelta(hours=1)),
]


def ids(rows: list[JobRow]) -> list[str]:
    return [r.id for r in rows]


def test_search_covers_id_name_display_name_and_description_in_any_case() -> None:
    assert ids(filter_rows(ROWS, query="QUOTES")) == ["quotes_sync"]
    assert ids(filter_rows(ROWS, query="close")) == ["daily_report"]
    assert ids(filter_rows(ROWS, query="check_sources")) == ["status_check"]
    assert ids(filter_rows(ROWS, query="report")) == ["daily_report"]
    assert ids(filter_rows(ROWS, query="  ")) == ids(ROWS)


def test_filters_by_state_and_tag() -> None:
    assert ids(filter_rows(ROWS, state="paused")) == ["daily_report"]
    assert ids(filter_rows(ROWS, state="active")) == ["quotes_sync", "status_check"]
    assert ids(filter_rows(ROWS, state="running")) == ["status_check"]
    assert ids(filter_rows(ROWS, tag="ops")) == ["status_check"]
    assert ids(filter_rows(ROWS, tag="sync", state="paused")) == []


def test_sorting_puts_missing_values_last_either_way() -> None:
    assert ids(sort_rows(ROWS, "id")) == ["daily_report", "quotes_sync", "status_check"]
    assert ids(sort_rows(ROWS, "next")) == ["status_check", "quotes_sync", "daily_report"]
    assert ids(sort_rows(ROWS, "next", descending=True)) == ["quotes_sync", "status_check", "daily_report"]
    assert ids(sort_rows(ROWS, "rate", descending=True)) == ["quotes_sync", "daily_report", "status_check"]
    assert ids(sort_rows(ROWS, "state")) == ["quotes_sync", "daily_report", "status_check"]
    assert ids(sort_rows(ROWS, "bogus")) == ids(ROWS)


def run(index: int, status: ExecutionStatus, seconds: float | None) -> Execution:
    started = T0 + timedelta(minutes=index)
    return Execution(
        id=f"e{index:03d}", job_id="j", job_name="j", status=status, scheduled_time=started, started_at=started,
        updated_at=started, finished_at=None if seconds is None else started + timedelta(seconds=seconds),
    )  # fmt: skip


def test_the_chart_shows_the_last_50_runs_oldest_first_and_survives_runs_without_a_duration() -> None:
    runs = [run(i, ExecutionStatus.SUCCESS, float(i % 7 + 1)) for i in range(60)]
    runs += [run(60, ExecutionStatus.RUNNING, None), run(61, ExecutionStatus.MISSED, None)]
    chart = duration_chart(list(reversed(runs)))
    assert len(chart.bars) == 50
    assert chart.bars[0].execution.id == "e012" and chart.bars[-1].execution.id == "e061"
    assert chart.max_seconds == 7.0
    assert all(0 < bar.height <= chart.height for bar in chart.bars)
    assert chart.bars[-1].status == "missed" and chart.bars[-1].height == 3.0
    assert set(chart.statuses) == {"running", "success", "missed"}
    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs) and xs[-1] + chart.bars[-1].width <= chart.width


def test_an_empty_chart() -> None:
    assert duration_chart([]).empty
