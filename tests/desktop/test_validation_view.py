"""The validation view says how its estimate was made and how rough it is, including folds trained
shorter than the final model."""
from desktop.common.validation_view import ValidationView

VALIDATION = {"scheme": "5-fold", "accuracy": 0.8, "evaluated": 10, "skipped": 0,
              "per_class": {"cat": 1.0, "dog": 0.6}, "confusion": [[5, 0], [2, 3]]}


def test_folds_trained_shorter_than_the_final_model_are_called_a_cautious_estimate(qtbot):
    view = ValidationView()
    qtbot.addWidget(view)
    view.show_validation({**VALIDATION, "steps": {"final": 2000, "fold": 400}}, ("cat", "dog"), 10)
    note = view.scheme_note.text()
    assert "5-fold: each label was predicted by a model trained without its fold." in note
    assert "each fold trained 400 steps and the final model 2,000" in note
    assert view.per_class.item(1, 1).text() == "60%"


def test_folds_that_repeat_the_final_training_get_no_such_note(qtbot):
    view = ValidationView()
    qtbot.addWidget(view)
    view.show_validation({**VALIDATION, "steps": {"final": 6, "fold": 6}}, ("cat", "dog"), 10)
    assert "steps" not in view.scheme_note.text()
    view.show_validation(VALIDATION, ("cat", "dog"), 10)
    assert "steps" not in view.scheme_note.text()


def test_the_estimate_comes_with_the_range_its_label_count_allows(qtbot):
    view = ValidationView()
    qtbot.addWidget(view)
    view.show_validation({**VALIDATION, "accuracy": 0.5, "evaluated": 30}, ("cat", "dog"), 30)
    assert view.scheme_note.text().startswith("On new images, likely between 33% and 67%: 30 tested labels")
    view.show_validation({**VALIDATION, "accuracy": None, "evaluated": 0}, ("cat", "dog"), 2)
    assert "likely" not in view.scheme_note.text()
    assert view.summary.text() == "No validation estimate yet: every class needs at least 2 labels."


def test_the_scheme_is_explained_in_one_sentence(qtbot):
    view = ValidationView()
    qtbot.addWidget(view)
    view.show_validation(VALIDATION, ("cat", "dog"), 10)
    assert view.summary.toolTip().startswith("5-fold: the labeled images are split into 5 parts")
