"""The deployment MILP written with linopy's array API: the second anchor for edgeopt's build time.

Labelled coordinates (edges, models, regions, neighbour pairs, slots), one ``add_variables`` call per
decision of docs/formulations.md, one vectorised ``add_constraints`` call per row block, grouped sums
(``groupby(...).sum()``) where a row collects the regions of an edge or the pairs of a region: the
model a linopy user writes from the docs, with no Python loop over variables or rows. It states the
same variables, bounds, objective and rows as :func:`edgeopt.families.deployment.formulate`
(tests/test_linopy_deployment.py proves it row by row); names follow formulate()'s blocks.

Per-request costs are computed here from the raw data, as in benchmarks/pyomo_algebraic.py, rather
than taken from the Instance's ``cost_*`` arrays.

:func:`build_matrices` is what the build benchmark times: the model, then the arrays linopy hands a
solver (``Model.matrices``: the CSR constraint matrix, right-hand sides and senses, bounds, types,
and the objective vector), which is what linopy's own direct HiGHS interface reads.
:func:`matrix_form` turns those arrays into edgeopt's :class:`~edgeopt.modeling.MatrixForm`.

    python benchmarks/linopy_deployment.py          # prints the linopy model of a small instance
"""
from __future__ import annotations

import sys

import linopy
import numpy as np
import pandas as pd
import xarray as xr

from edgeopt.modeling import MatrixForm


def build(instance, *, sparse: bool = True) -> linopy.Model:
    """A linopy Model of ``instance``'s deployment MILP (constraint names as formulate()'s row blocks).

    ``sparse`` builds it on linopy's CSR path (``Model(sparse=True)``: grouped sums and constraints held as
    sparse matrices), which linopy provides for large models and which builds this one (with its solver
    arrays) about 20 % faster than the default dense path (at 1,000,000 variables 0.9 s of CPU against
    1.1 s on the machine of benchmarks/README.md); ``sparse=False`` is the default ``linopy.Model()``.
    Both run under linopy's v1 arithmetic semantics (the sparse path requires them; the code is written to
    mean the same under the legacy ones), set for the duration of the call only."""
    with linopy.options as options:
        options(semantics="v1")
        return _build(instance, sparse)


def _build(inst, sparse: bool) -> linopy.Model:
    edge = pd.Index(list(inst.edge_names), name="edge")
    model = pd.Index(list(inst.model_names), name="model")
    region = pd.Index(list(inst.region_names), name="region")
    pair = pd.RangeIndex(inst.num_pairs, name="pair")
    slot = pd.RangeIndex(inst.slots, name="slot")
    edge_names = np.asarray(inst.edge_names, dtype=object)
    region_names = np.asarray(inst.region_names, dtype=object)

    # -- data as labelled arrays -------------------------------------------------------------------
    per_model = lambda a: xr.DataArray(np.asarray(a, dtype=float), coords=[model])  # noqa: E731
    per_edge = lambda a: xr.DataArray(np.asarray(a, dtype=float), coords=[edge])  # noqa: E731
    size_gb, gpu_gb = per_model(inst.model_storage_gb), per_model(inst.model_gpu_memory_gb)
    load_s, edge_inf_s = per_model(inst.load_seconds), per_model(inst.edge_inference_seconds)
    cloud_inf_s = per_model(inst.cloud_inference_seconds)
    storage_cap, gpu_cap = per_edge(inst.edge_storage_gb), per_edge(inst.edge_gpu_memory_gb)
    compute_cap = per_edge(inst.compute_seconds)
    download_s = 8.0 * size_gb / per_edge(inst.backhaul_gbps)  # (edge, model)
    requests = xr.DataArray(inst.demand.astype(float), coords=[region, model, slot])
    # Groupers: the edge a region belongs to, and the region and the serving edge of each pair.
    home = xr.DataArray(edge_names[inst.region_edge], coords=[region], name="edge")
    pair_region = xr.DataArray(region_names[inst.pair_region], coords=[pair], name="region")
    pair_edge = xr.DataArray(edge_names[inst.pair_edge], coords=[pair], name="edge")
    home_access_s = xr.DataArray(inst.access_delay_seconds[inst.region_edge], coords=[region])
    pair_access_s = xr.DataArray(inst.access_delay_seconds[inst.region_edge[inst.pair_region]], coords=[pair])
    link_s = xr.DataArray(inst.pair_delay_seconds, coords=[pair])
    pair_requests = xr.DataArray(inst.demand[inst.pair_region].astype(float), coords=[pair, model, slot])
    # The state before slot 0 (zero in later slots, where the previous slot's variable takes its place).
    first_slot = xr.DataArray(np.arange(inst.slots) == 0, coords=[slot])
    stored_before = xr.DataArray(inst.initial_stored.astype(float), coords=[edge, model]) * first_slot
    loaded_before = xr.DataArray(inst.initial_loaded.astype(float), coords=[edge, model]) * first_slot

    m = linopy.Model(sparse=sparse)

    # -- variables ---------------------------------------------------------------------------------
    ems = [edge, model, slot]
    stored = m.add_variables(coords=ems, name="stored", binary=True)
    loaded = m.add_variables(coords=ems, name="loaded", binary=True)
    load = m.add_variables(coords=ems, name="load", binary=True)
    download = m.add_variables(coords=ems, name="download", binary=True)
    local = m.add_variables(lower=0, upper=requests, coords=[region, model, slot], name="local", integer=True)
    neighbour = m.add_variables(lower=0, upper=pair_requests, coords=[pair, model, slot], name="neighbour",
                                integer=True)
    cloud = m.add_variables(lower=0, upper=requests if inst.cloud_enabled else 0 * requests,
                            coords=[region, model, slot], name="cloud", integer=True)

    # -- objective ---------------------------------------------------------------------------------
    w = inst.delay_per_second
    m.add_objective(
        (inst.storage_per_gb * size_gb * stored).sum()
        + (inst.gpu_memory_per_gb * gpu_gb * loaded).sum()
        + (w * load_s * load).sum()
        + ((w * download_s + inst.backhaul_per_gb * size_gb) * download).sum()
        + (w * (home_access_s + edge_inf_s) * local).sum()
        + (w * (pair_access_s + link_s + edge_inf_s) * neighbour).sum()
        + ((w * (home_access_s + inst.wan_delay_seconds + cloud_inf_s) + inst.cloud_cost_per_request)
           * cloud).sum())

    # -- capacities per edge and slot --------------------------------------------------------------
    m.add_constraints((size_gb * stored).sum("model") <= storage_cap, name="storage")
    m.add_constraints((gpu_gb * loaded).sum("model") <= gpu_cap, name="gpu_memory")
    served_here = grouped_sum((edge_inf_s * local).sum("model"), home, edge)
    served_for_neighbours = grouped_sum((edge_inf_s * neighbour).sum("model"), pair_edge, edge)
    loading = (load_s * load).sum("model")
    m.add_constraints(served_here + served_for_neighbours + loading <= compute_cap, name="compute")
    m.add_constraints((download_s * download).sum("model") <= inst.slot_seconds, name="backhaul")
    m.add_constraints(loaded - stored <= 0, name="loaded_implies_stored")

    # -- switching: the indicator is max(0, state[t] - state[t-1]) for binaries, in three rows ---------
    for name, indicator, state, before in (("load", load, loaded, loaded_before),
                                           ("download", download, stored, stored_before)):
        previous = state.shift(slot=1).fillna(0) + before  # in slot 0 the state before is data, a constant
        m.add_constraints(indicator - state + previous >= 0, name=f"{name}_lower")
        m.add_constraints(indicator - state <= 0, name=f"{name}_needs_state")
        m.add_constraints(indicator + previous <= 1, name=f"{name}_was_absent")

    # -- serve only where loaded; every request served exactly once ---------------------------------
    m.add_constraints(local - requests * loaded.sel(edge=home) <= 0, name="local_where_loaded")
    m.add_constraints(neighbour - pair_requests * loaded.sel(edge=pair_edge) <= 0, name="neighbour_where_loaded")
    from_neighbours = grouped_sum(neighbour, pair_region, region)
    m.add_constraints(local + from_neighbours + cloud == requests, name="demand")
    return m


def grouped_sum(expr, by: xr.DataArray, index: pd.Index):
    """The sum of ``expr`` over the members of each element of ``index`` (``by`` names each member's element).

    groupby() orders the groups by label ("edge10" before "edge2") and has none for an element without
    members (an edge no pair reaches), so the sums are reindexed to ``index`` and filled with 0 there
    (under v1 semantics an absent sum would otherwise drop the whole row it is added into)."""
    return expr.groupby(by).sum().reindex({index.name: index}).fillna(0)


def build_matrices(instance, *, sparse: bool = True) -> tuple[linopy.Model, object]:
    """The model and the arrays linopy hands a solver: what the build benchmark times.

    ``Model.matrices`` assembles the constraint matrix, right-hand sides, senses, bounds and
    variable types when it is created; the objective vector ``c`` is computed on first access."""
    m = build(instance, sparse=sparse)
    arrays = m.matrices
    arrays.c  # noqa: B018  (computed on access, and a solver needs it)
    return m, arrays


def matrix_form(arrays) -> MatrixForm:
    """linopy's solver arrays as an edgeopt :class:`MatrixForm` (columns in linopy's order, ``arrays.vlabels``;
    rows in ``arrays.clabels``' order), so that edgeopt's HiGHS driver can solve it and tests can compare it."""
    sense = np.asarray(arrays.sense)
    b = np.asarray(arrays.b, dtype=float)
    return MatrixForm(
        sense="min",
        c=np.asarray(arrays.c, dtype=float),
        offset=0.0,
        A=arrays.A.tocsc(),
        row_lo=np.where(sense == "<", -np.inf, b),
        row_hi=np.where(sense == ">", np.inf, b),
        col_lo=np.asarray(arrays.lb, dtype=float),
        col_hi=np.asarray(arrays.ub, dtype=float),
        integrality=np.isin(arrays.vtypes, ("B", "I")),
    )


if __name__ == "__main__":
    import edgeopt

    print(build(edgeopt.generate("deployment", edges=2, models=2, slots=2, seed=1)))
    sys.exit(0)
