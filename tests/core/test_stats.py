from vvtvlib.core.stats import check_rate, percentile, wilson_high, wilson_low


def test_nearest_rank_is_a_measured_value() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([4, 3, 2, 1], 75) == 3
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile(list(range(1, 101)), 99) == 99
    assert percentile([0, 10], 95) == 10
    assert percentile([7.0], 50) == 7.0


def test_rank_is_not_pushed_up_by_float_error() -> None:
    # 7 % of 100 values is the 7th value, although 0.07 * 100 is 7.000000000000001
    assert percentile(list(range(1, 101)), 7) == 7
    assert percentile(list(range(1, 101)), 100) == 100


def test_empty_and_rounding() -> None:
    assert percentile([], 95) is None
    assert percentile([1.23456, 2.5], 50, 2) == 1.23


def test_wilson_low_bound() -> None:
    assert wilson_low(0, 40) == 0.0 and wilson_low(0, 0) == 0.0
    assert 0.004 < wilson_low(1, 40) < 0.005 < wilson_low(2, 40)
    assert wilson_low(50, 100) < 0.5 < wilson_low(60, 100)
    assert abs(wilson_low(5000, 1_000_000) - 0.005) < 0.0002  # many trials: close to the rate


def test_wilson_high_and_the_rate_check() -> None:
    assert wilson_high(0, 0) == 1.0 and 0.02 < wilson_high(0, 170) < 0.023
    assert wilson_low(1, 170) < 1 / 170 < wilson_high(1, 170)
    one = check_rate(1, 170, 0.005)
    assert one.consistent and one.fails_from == 3 and round(one.rate, 4) == 0.0059
    regression = check_rate(5, 170, 0.005)  # 2.9 %
    assert not regression.consistent and regression.low95 > 0.005
    assert not check_rate(0, 0, 0.005).consistent
    assert check_rate(0, 10, 0.005).fails_from == 1  # 1 in 10: 1.8-40 %, rules 0.5 % out
