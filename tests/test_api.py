"""The Python API takes what a user naturally hands it, and says what it wanted when it cannot."""
from __future__ import annotations

import pytest

import edgeopt
from edgeopt.comparison.reference import read_solu

from conftest import INSTANCES


def test_solve_takes_the_path_of_an_instance_file():
    """`edgeopt.solve("file.json")` ended in AttributeError: 'str' object has no attribute 'kind'."""
    path = INSTANCES / "deployment" / "tiny-1.json"
    optimum = read_solu(INSTANCES / "reference.solu")["tiny-1"]
    for given in (path, str(path)):
        result = edgeopt.solve(given, solver="highs")
        assert result.status == "optimal" and result.objective == pytest.approx(optimum.value, rel=1e-9)


@pytest.mark.parametrize("given, says", [
    (INSTANCES / "gap" / "gap1.txt", "holds 5 problems"),
    ({"kind": "deployment"}, "got dict"),
    (3, "got int"),
])
def test_solve_says_what_it_takes(given, says):
    with pytest.raises(ValueError, match=says):
        edgeopt.solve(given, solver="highs")


@pytest.mark.parametrize("value", [18897.5712345678, 11877.52328541, 0.123456789012345, 1320.9999999999975])
@pytest.mark.parametrize("sense", ["min", "max"])
def test_a_reference_rounded_to_12_digits_gives_a_zero_gap(value, sense):
    """Issue 19 (item 17): references written at 12 significant digits made proven optima show -0.00 % (the
    zero test was 1e-12 relative); within the proof tolerance a gap is 0, beyond it it is not."""
    reference = float(f"{value:.12g}")
    assert edgeopt.relative_gap(value, reference, sense) == 0.0
    assert edgeopt.relative_gap(reference, value, sense) == 0.0
    worse = value + 3e-6 * max(1.0, abs(value)) * (1 if sense == "min" else -1)
    assert edgeopt.relative_gap(worse, value, sense) > 0
