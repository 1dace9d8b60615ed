"""The failed-authentication limiter's own logic, with an explicit clock."""

from __future__ import annotations

from callboard.security.ratelimit import FailureLimiter


def test_blocks_after_limit_within_window_then_forgets() -> None:
    limiter = FailureLimiter(limit=3, window=60)
    for second in range(3):
        assert limiter.retry_after("k", now=100 + second) == 0
        limiter.failed("k", now=100 + second)
    assert limiter.retry_after("k", now=103) == 58
    assert limiter.retry_after("other", now=103) == 0
    assert limiter.retry_after("k", now=160.5) == 0  # the first failure left the window
    limiter.failed("k", now=160.6)  # with the failures at 101 and 102: three again
    assert limiter.retry_after("k", now=160.6) == 1


def test_success_clears_and_memory_is_bounded() -> None:
    limiter = FailureLimiter(limit=2, window=60, max_keys=10)
    limiter.failed("a", now=1)
    limiter.failed("a", now=2)
    assert limiter.retry_after("a", now=3) > 0
    limiter.succeeded("a")
    assert limiter.retry_after("a", now=3) == 0
    for index in range(100):
        limiter.failed(f"key{index}", now=5)
    assert len(limiter._failures) <= 10
