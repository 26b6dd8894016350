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
