"""Sign-in throttling: limits per (user, address) and per address, growing lockouts, no lock-out of others."""

from __future__ import annotations

import pytest

from jobdeck.engine.executors.command import command_environment
from jobdeck.login_throttle import LoginLimits, LoginThrottle

LIMITS = LoginLimits(per_user=5, per_address=20, window=60, max_lockout=900)


def fail(throttle: LoginThrottle, times: int, user: str = "admin", address: str = "10.0.0.1", now: float = 0) -> int:
    locked = 0
    for _ in range(times):
        locked = throttle.failed(user, address, now=now) or locked
    return locked


def test_fifth_failure_locks_the_pair_for_a_window() -> None:
    throttle = LoginThrottle(LIMITS)
    assert fail(throttle, 4) == 0
    assert throttle.retry_after("admin", "10.0.0.1", now=1) == 0
    assert fail(throttle, 1) == 60
    assert throttle.retry_after("admin", "10.0.0.1", now=0.5) == 60
    assert throttle.retry_after("admin", "10.0.0.1", now=59.5) == 1
    assert throttle.retry_after("admin", "10.0.0.1", now=60) == 0


def test_failures_older_than_the_window_do_not_count() -> None:
    throttle = LoginThrottle(LIMITS)
    fail(throttle, 4, now=0)
    assert fail(throttle, 4, now=61) == 0
    assert throttle.retry_after("admin", "10.0.0.1", now=62) == 0


def test_each_lockout_doubles_up_to_the_maximum() -> None:
    throttle = LoginThrottle(LIMITS)
    now, lengths = 0.0, []
    for _ in range(6):
        lengths.append(fail(throttle, 5, now=now))
        now += lengths[-1]
    assert lengths == [60, 120, 240, 480, 900, 900]


def test_a_user_still_signs_in_from_another_address() -> None:
    throttle = LoginThrottle(LIMITS)
    fail(throttle, 50, address="203.0.113.9")
    assert throttle.retry_after("admin", "203.0.113.9", now=1) > 0
    assert throttle.retry_after("admin", "10.0.0.1", now=1) == 0


def test_one_address_spraying_many_usernames_is_locked_out() -> None:
    throttle = LoginThrottle(LIMITS)
    for index in range(20):
        throttle.failed(f"user{index}", "203.0.113.9", now=0)
    assert throttle.retry_after("someone-else", "203.0.113.9", now=1) == 59
    assert throttle.retry_after("someone-else", "10.0.0.1", now=1) == 0


def test_success_forgets_the_pair_but_not_the_address() -> None:
    throttle = LoginThrottle(LIMITS)
    fail(throttle, 4)
    throttle.succeeded("admin", "10.0.0.1")
    assert fail(throttle, 4) == 0  # the pair starts over
    fail(throttle, 11, user="other")  # 4 + 4 + 11 = 19 from the address …
    assert fail(throttle, 1, user="third") == 60  # … the 20th locks it


@pytest.mark.parametrize("limits", [LoginLimits(per_user=0, per_address=0)])
def test_zero_turns_limits_off(limits: LoginLimits) -> None:
    throttle = LoginThrottle(limits)
    assert fail(throttle, 500) == 0
    assert throttle.retry_after("admin", "10.0.0.1", now=1) == 0


def test_command_environment_drops_jobdeck_settings_and_keeps_the_allowed() -> None:
    environ = {
        "JOBDECK_SECRET_KEY": "k" * 40,
        "JOBDECK_DATABASE_URL": "postgresql://u:p@db/x",
        "PATH": "/usr/bin",
        "LC_ALL": "C.UTF-8",
        "AWS_SECRET": "x",
    }
    everything = command_environment(environ, ("*",), {})
    assert everything == {"PATH": "/usr/bin", "LC_ALL": "C.UTF-8", "AWS_SECRET": "x"}
    chosen = command_environment(environ, ("PATH", "LC_*", "JOBDECK_*"), {"JOBDECK_OWN": "job's own"})
    assert chosen == {"PATH": "/usr/bin", "LC_ALL": "C.UTF-8", "JOBDECK_OWN": "job's own"}


def test_checks_under_way_count_toward_the_limit() -> None:
    throttle = LoginThrottle(LIMITS)
    fail(throttle, 3)
    throttle.checking("admin", "10.0.0.1", +1)
    throttle.checking("admin", "10.0.0.1", +1)
    assert throttle.retry_after("admin", "10.0.0.1", now=1) == 1  # 3 failed + 2 being checked = the limit
    throttle.checking("admin", "10.0.0.1", -1)
    assert throttle.retry_after("admin", "10.0.0.1", now=1) == 0
