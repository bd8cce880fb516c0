"""Plot ranges that follow the data without moving at every point."""
from desktop.common.sticky_range import x_range, y_range


def test_the_x_range_is_the_planned_steps_or_grows_in_large_jumps():
    assert x_range(0.0, 12, total=300) == (0.0, 300.0)
    assert x_range(0.0, 12, total=0) == (0.0, 18.0)
    assert x_range(18.0, 17, total=0) == (0.0, 18.0)
    assert x_range(18.0, 19, total=0) == (0.0, 28.5)
    assert x_range(300.0, 320, total=300) == (0.0, 480.0)        # a re-planned budget ran longer


def test_the_y_range_holds_until_the_data_leaves_or_shrinks_inside_it():
    first = y_range(None, 4.0, 5.0)
    assert first == (3.9, 5.1)
    assert y_range(first, 4.2, 5.0) == first                       # inside and filling most of it
    assert y_range(first, 4.0, 5.2) == (3.88, 5.32)                # a point above: refit
    shrunk = y_range(first, 4.5, 4.7)                              # fills 17 % of the range: refit
    assert shrunk[0] < 4.5 < 4.7 < shrunk[1] and shrunk[1] - shrunk[0] < 0.3
    flat = y_range(None, 2.0, 2.0)
    assert flat[0] < 2.0 < flat[1]
