"""The live curves' x axis: the planned steps while a run goes, its last step once it ended."""
from __future__ import annotations

from desktop.common.training_plots import TrainingPlots


def test_an_ended_run_fits_the_x_axis_to_its_last_step(qtbot):
    plots = TrainingPlots(panels=("loss",))
    qtbot.addWidget(plots)
    for step in range(1, 26):
        plots.add(step, {"loss": 2.0 / step, "lr": 0.1}, total=100)
    plots.refresh()
    assert plots.x_end() == 100                 # while running: the planned total
    plots.finish()                              # converged after 25 of 100 iterations
    assert plots.x_end() == 25 and plots.drawn_points() == 25
    plots.add(26, {"loss": 0.05, "lr": 0.1}, total=200)    # resumed: the plan again
    plots.refresh()
    assert plots.x_end() == 200


def test_a_loaded_history_ends_at_its_last_step(qtbot):
    plots = TrainingPlots(panels=("loss",))
    qtbot.addWidget(plots)
    plots.load([{"step": step, "loss": 1.0 / step, "lr": 0.1} for step in range(1, 41)] + [{"validation": {}}])
    assert plots.x_end() == 40 and plots.drawn_points() == 40


def test_each_chart_explains_itself_and_the_spread_says_whether_it_is_fine(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    assert all(plot.toolTip() for plot in plots._plots.values())
    assert "learning rate" in plots._plots["lr"].toolTip().lower()
    plots.add(1, {"loss": 1.0, "lr": 0.1, "collapse": 0.08, "collapse_healthy": 0.09})
    plots.refresh()
    spread = plots._plots["collapse"]
    assert spread.titleLabel.text.endswith("0.080, fine") and "Now 0.080: fine" in spread.toolTip()
    plots.add(2, {"loss": 1.0, "lr": 0.1, "collapse": 0.01, "collapse_healthy": 0.09})
    plots.refresh()
    assert spread.titleLabel.text.endswith("0.010, too low")
