"""The sentence the shot page shows under a recorded photo."""

from types import SimpleNamespace

from capture.shutter import _message
from reconstruction.core.generators.expression.model import MOUTH_KEPT


def _plan(reports):
    return SimpleNamespace(rule=SimpleNamespace(steps=[object()]), reports=reports, damaged={}, trained=True)


def test_an_edit_made_gentler_than_asked_says_what_it_kept_as_shot():
    stage = SimpleNamespace(groups=["expression"], left_out=[], failed=[], raised=[])
    assert MOUTH_KEPT in _message(_plan({"expression": {"kept": [MOUTH_KEPT]}}), stage)


def test_what_an_edit_left_out_of_the_photo_kept_is_not_said():
    left = [{"group": "expression", "why": "the smile did not take"}]
    stage = SimpleNamespace(groups=[], left_out=left, failed=[], raised=[])
    message = _message(_plan({"expression": {"kept": [MOUTH_KEPT]}}), stage)
    assert MOUTH_KEPT not in message
    assert "the expression edit was left out: the smile did not take" in message


def test_a_smile_asked_again_bigger_says_from_what_to_what_and_why():
    raised = [
        {
            "group": "expression",
            "element": "expression.smile",
            "from": 0.55,
            "to": 0.85,
            "why": "the smile did not take",
        }
    ]
    stage = SimpleNamespace(groups=["expression"], left_out=[], failed=[], raised=raised)
    assert "a bigger smile was asked (0.55 \u2192 0.85): the smile did not take" in _message(_plan({}), stage)
