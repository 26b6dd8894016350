"""The linopy model of benchmarks/ is the same MILP as deployment.formulate().

The build benchmark compares edgeopt with linopy, which means something only if both build the same
model: here every column (bounds, integrality, objective coefficient) and every row (coefficients and
bounds, up to the row's sign) of linopy's solver arrays is matched, by block name and coordinates, to
formulate()'s, on linopy's sparse path (what the benchmark times) and its default dense one; and the
linopy model, solved by linopy's own HiGHS interface, reaches edgeopt's optimum.

The instances: one with an initial state, one with the cloud disabled, one with twelve edges (linopy's
grouped sums order groups by label, "edge10" before "edge2") and one where an edge is reached by no
neighbour pair and some regions have none (an empty group).
"""
from __future__ import annotations

import copy
import functools
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

linopy = pytest.importorskip("linopy")

import edgeopt  # noqa: E402
from edgeopt.families import deployment as dep  # noqa: E402
from edgeopt.io import instance_from_data  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from linopy_deployment import build_matrices, matrix_form  # noqa: E402

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instances" / "deployment"

#: The dimensions of each of formulate()'s variable and row blocks, in its array order.
EMT, RMT, PMT, ET = ("edge", "model", "slot"), ("region", "model", "slot"), ("pair", "model", "slot"), ("edge", "slot")
BLOCK_DIMS = {
    "stored": EMT, "loaded": EMT, "load": EMT, "download": EMT, "local": RMT, "neighbour": PMT, "cloud": RMT,
    "storage": ET, "gpu_memory": ET, "compute": ET, "backhaul": ET, "loaded_implies_stored": EMT,
    "load_lower": EMT, "load_needs_state": EMT, "load_was_absent": EMT,
    "download_lower": EMT, "download_needs_state": EMT, "download_was_absent": EMT,
    "local_where_loaded": RMT, "neighbour_where_loaded": PMT, "demand": RMT,
}


def _few_links():
    """Edge 0 links to one edge only and the others to none: one edge and most regions have no neighbour pair."""
    data = copy.deepcopy(edgeopt.generate("deployment", edges=3, regions_per_edge=2, models=3, slots=3,
                                          links_per_edge=2, load=0.8, seed=3).data)
    for i, edge in enumerate(data["edges"]):
        edge["links"] = edge["links"][:1] if i == 0 else []
    return instance_from_data(data, "<few-links>")


INSTANCES = {
    "medium-warm": edgeopt.load(INSTANCE_DIR / "medium-warm.json"),
    "small-nocloud": edgeopt.load(INSTANCE_DIR / "small-nocloud.json"),
    "medium-3": edgeopt.load(INSTANCE_DIR / "medium-3.json"),
    "few-links": _few_links(),
}
MODES = {"sparse": True, "dense": False}
#: Every instance on the sparse path (the one the benchmark times); the dense path on the two where the
#: paths differ most (constants in the switching rows, empty groups), to keep the file fast.
CASES = [(name, "sparse") for name in sorted(INSTANCES)] + [("few-links", "dense"), ("medium-warm", "dense")]


def test_the_instances_cover_what_they_are_for():
    warm, nocloud, twelve, few = (INSTANCES[k] for k in ("medium-warm", "small-nocloud", "medium-3", "few-links"))
    assert warm.initial_loaded.any() and warm.initial_stored.any()
    assert not nocloud.cloud_enabled
    assert sorted(twelve.edge_names) != list(twelve.edge_names)
    assert np.bincount(few.pair_edge, minlength=few.num_edges).min() == 0
    assert np.bincount(few.pair_region, minlength=few.num_regions).min() == 0


@functools.lru_cache(maxsize=None)
def _built(name: str, mode: str):
    """(formulate()'s MatrixForm and Formulation, linopy's model, its MatrixForm, column map, row map)."""
    inst = INSTANCES[name]
    form = dep.formulate(inst)
    m, arrays = build_matrices(inst, sparse=MODES[mode])
    coords = {"edge": list(inst.edge_names), "model": list(inst.model_names), "region": list(inst.region_names),
              "pair": list(range(inst.num_pairs)), "slot": list(range(inst.slots))}

    def mapping(labels_in_order, components, blocks, count):
        """linopy position (vlabels/clabels order) -> formulate() index, block by block, by coordinates."""
        position = np.full(int(labels_in_order.max()) + 1 if labels_in_order.size else 0, -1)
        position[labels_in_order] = np.arange(labels_in_order.size)
        to_formulate = np.full(labels_in_order.size, -1)
        for block_name in components:
            dims = BLOCK_DIMS[block_name]
            labels = components[block_name].labels
            assert set(labels.dims) == set(dims), block_name
            ordered = labels.sel({d: coords[d] for d in dims}).transpose(*dims).values
            ids = blocks[block_name].ids
            assert ordered.shape == ids.shape and (ordered >= 0).all(), block_name
            to_formulate[position[ordered.ravel()]] = ids.ravel()
        assert (to_formulate >= 0).all() and np.array_equal(np.sort(to_formulate), np.arange(count))
        return to_formulate

    mf = form.model.matrix()
    lf = matrix_form(arrays)
    assert sorted(m.variables) == sorted(form.blocks)
    assert sorted(m.constraints) == sorted(form.model.row_blocks)
    cols = mapping(np.asarray(arrays.vlabels), m.variables, form.blocks, mf.num_cols)
    rows = mapping(np.asarray(arrays.clabels), m.constraints, form.model.row_blocks, mf.num_rows)
    return mf, m, lf, cols, rows


def _sign_free(A: sp.csr_matrix, lo: np.ndarray, hi: np.ndarray):
    """Each row multiplied by the sign of its first coefficient (by column), its bounds with it."""
    A = sp.csr_matrix(A)
    A.sort_indices()
    nonempty = np.diff(A.indptr) > 0
    first = A.data[np.minimum(A.indptr[:-1], max(A.nnz - 1, 0))] if A.nnz else np.ones(A.shape[0])
    sign = np.where(nonempty, np.sign(first), 1.0)
    A = sp.csr_matrix(sp.diags(sign) @ A)
    A.sort_indices()
    return A, np.where(sign > 0, lo, -hi), np.where(sign > 0, hi, -lo)


@pytest.mark.parametrize("name,mode", CASES)
def test_same_columns_and_objective(name, mode):
    mf, m, lf, cols, _ = _built(name, mode)
    assert lf.num_cols == mf.num_cols
    np.testing.assert_array_equal(lf.col_lo, mf.col_lo[cols])
    np.testing.assert_array_equal(lf.col_hi, mf.col_hi[cols])
    np.testing.assert_array_equal(lf.integrality, mf.integrality[cols])
    np.testing.assert_allclose(lf.c, mf.c[cols], rtol=1e-12, atol=1e-12)
    assert float(m.objective.expression.const) == pytest.approx(mf.offset, abs=1e-12)


@pytest.mark.parametrize("name,mode", CASES)
def test_same_rows(name, mode):
    mf, _, lf, cols, rows = _built(name, mode)
    assert lf.num_rows == mf.num_rows and lf.A.nnz == mf.A.nnz
    # linopy's matrix with its columns and rows put in formulate()'s order.
    ours = sp.csr_matrix((lf.A.tocoo().data, (rows[lf.A.tocoo().row], cols[lf.A.tocoo().col])), shape=mf.A.shape)
    row_lo, row_hi = np.empty(mf.num_rows), np.empty(mf.num_rows)
    row_lo[rows], row_hi[rows] = lf.row_lo, lf.row_hi
    # linopy may hold a row as "a x >= l" where formulate() wrote "-a x <= -l": the same row.
    a, a_lo, a_hi = _sign_free(ours, row_lo, row_hi)
    b, b_lo, b_hi = _sign_free(mf.A, mf.row_lo, mf.row_hi)
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=0)
    np.testing.assert_allclose(a_lo, b_lo, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a_hi, b_hi, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_same_optimum(name):
    """linopy's own HiGHS interface (highspy, direct) on the linopy model reaches edgeopt's proven optimum."""
    reference = edgeopt.solve(INSTANCES[name], "highs")
    assert reference.status == edgeopt.Status.OPTIMAL, reference.message
    _, m, _, _, _ = _built(name, "sparse")
    with linopy.options as options:
        options(semantics="v1")  # a sparse linopy model is used under the v1 semantics it was built with
        status, condition = m.solve("highs", mip_rel_gap=0.0, mip_abs_gap=1e-9, threads=1, output_flag=False)
    assert (status, condition) == ("ok", "optimal")
    assert m.objective.value == pytest.approx(reference.objective, rel=1e-6)
