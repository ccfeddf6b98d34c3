import pytest

from core.adapters.polymarket.feed import Backoff


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap() -> None:
    backoff = Backoff(0.05, 0.3, rng=lambda: 1.0)

    assert [backoff.next_delay() for _ in range(5)] == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.3])
    assert backoff.failures == 5


def test_backoff_jitter_keeps_each_delay_between_half_and_all_of_its_ceiling() -> None:
    low, high = Backoff(0.05, 10, rng=lambda: 0.0), Backoff(0.05, 10, rng=lambda: 0.999999)

    for _ in range(8):
        floor, ceiling = low.next_delay(), high.next_delay()
        assert floor == pytest.approx(ceiling / 2, rel=1e-5)


def test_backoff_starts_again_from_the_initial_delay_after_a_reset() -> None:
    backoff = Backoff(0.05, 5, rng=lambda: 1.0)
    for _ in range(6):
        backoff.next_delay()

    backoff.reset()

    assert backoff.failures == 0
    assert backoff.next_delay() == pytest.approx(0.05)


def test_backoff_refuses_an_initial_delay_above_the_cap() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(2, 1)
