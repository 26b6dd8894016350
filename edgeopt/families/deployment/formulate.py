"""The deployment MILP (docs/formulations.md, "deployment"), built from whole arrays: no loop per variable."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeopt.families.deployment.instance import Instance, Solution, switched_on
from edgeopt.modeling import Model, VarBlock


@dataclass(frozen=True)
class Formulation:
    """A built model and the blocks needed to turn a solution vector back into a :class:`Solution`."""

    model: Model
    blocks: dict[str, VarBlock]
    initial_stored: np.ndarray
    initial_loaded: np.ndarray

    def decode(self, values: np.ndarray) -> Solution:
        v = {k: np.round(np.asarray(values)[b.ids]) for k, b in self.blocks.items()}
        return Solution(stored=v["stored"] > 0.5, loaded=v["loaded"] > 0.5, local=v["local"].astype(np.int64),
                        neighbour=v["neighbour"].astype(np.int64), cloud=v["cloud"].astype(np.int64))

    def encode(self, sol: Solution) -> np.ndarray:
        """The solution vector of a plan (the load/download indicators recomputed), for warm starts."""
        x = np.zeros(self.model.num_cols)
        for key in ("stored", "loaded", "local", "neighbour", "cloud"):
            x[self.blocks[key].ids] = getattr(sol, key)
        x[self.blocks["load"].ids] = switched_on(sol.loaded, self.initial_loaded)
        x[self.blocks["download"].ids] = switched_on(sol.stored, self.initial_stored)
        return x


def _variables(mdl: Model, inst: Instance) -> dict[str, VarBlock]:
    E, M, R, P, T = inst.num_edges, inst.num_models, inst.num_regions, inst.num_pairs, inst.slots
    d = inst.demand.astype(float)
    binary = dict(ub=1, integer=True)
    return {
        "stored": mdl.add_variables("stored", (E, M, T), **binary),
        "loaded": mdl.add_variables("loaded", (E, M, T), **binary),
        "load": mdl.add_variables("load", (E, M, T), **binary),
        "download": mdl.add_variables("download", (E, M, T), **binary),
        "local": mdl.add_variables("local", (R, M, T), ub=d, integer=True),
        "neighbour": mdl.add_variables("neighbour", (P, M, T), ub=d[inst.pair_region], integer=True),
        "cloud": mdl.add_variables("cloud", (R, M, T), ub=d if inst.cloud_enabled else 0.0, integer=True),
    }


def _objective(mdl: Model, inst: Instance, v: dict[str, VarBlock]) -> None:
    per_model = lambda c: c[None, :, None]  # noqa: E731
    mdl.add_objective(v["stored"], per_model(inst.cost_stored))
    mdl.add_objective(v["loaded"], per_model(inst.cost_loaded))
    mdl.add_objective(v["load"], per_model(inst.cost_load))
    mdl.add_objective(v["download"], inst.cost_download[:, :, None])
    mdl.add_objective(v["local"], inst.cost_local[:, :, None])
    mdl.add_objective(v["neighbour"], inst.cost_neighbour[:, :, None])
    mdl.add_objective(v["cloud"], inst.cost_cloud[:, :, None])


def _capacities(mdl: Model, inst: Instance, v: dict[str, VarBlock]) -> None:
    """Storage, GPU memory, compute (requests served plus loads) and backhaul, per edge and slot."""
    E, T = inst.num_edges, inst.slots
    rows = mdl.add_rows("storage", (E, T), hi=inst.edge_storage_gb[:, None])
    mdl.add_terms(rows.ids[:, None, :], v["stored"], inst.model_storage_gb[None, :, None])
    rows = mdl.add_rows("gpu_memory", (E, T), hi=inst.edge_gpu_memory_gb[:, None])
    mdl.add_terms(rows.ids[:, None, :], v["loaded"], inst.model_gpu_memory_gb[None, :, None])
    rows = mdl.add_rows("compute", (E, T), hi=inst.compute_seconds[:, None])
    p_m = inst.edge_inference_seconds[None, :, None]
    mdl.add_terms(rows.ids[inst.region_edge][:, None, :], v["local"], p_m)
    mdl.add_terms(rows.ids[inst.pair_edge][:, None, :], v["neighbour"], p_m)
    mdl.add_terms(rows.ids[:, None, :], v["load"], inst.load_seconds[None, :, None])
    rows = mdl.add_rows("backhaul", (E, T), hi=inst.slot_seconds)
    mdl.add_terms(rows.ids[:, None, :], v["download"], inst.download_seconds[:, :, None])


def _switching(mdl: Model, inst: Instance, v: dict[str, VarBlock]) -> None:
    """Loaded implies stored; the load and download indicators are exactly max(0, s_t - s_{t-1})."""
    E, M, T = inst.num_edges, inst.num_models, inst.slots
    rows = mdl.add_rows("loaded_implies_stored", (E, M, T), hi=0.0)  # y - x <= 0
    mdl.add_terms(rows, v["loaded"], 1.0)
    mdl.add_terms(rows, v["stored"], -1.0)
    for name, state, initial in (("load", v["loaded"], inst.initial_loaded),
                                 ("download", v["stored"], inst.initial_stored)):
        ind = v[name]
        prev0 = initial.astype(float)[:, :, None]  # the state before slot 0 is data
        later = np.zeros((E, M, T - 1))
        # ind - s_t + s_{t-1} >= 0
        r1 = mdl.add_rows(f"{name}_lower", (E, M, T), lo=np.concatenate([-prev0, later], axis=2))
        mdl.add_terms(r1, ind, 1.0)
        mdl.add_terms(r1, state, -1.0)
        mdl.add_terms(r1.ids[:, :, 1:], state.ids[:, :, :-1], 1.0)
        # ind - s_t <= 0
        r2 = mdl.add_rows(f"{name}_needs_state", (E, M, T), hi=0.0)
        mdl.add_terms(r2, ind, 1.0)
        mdl.add_terms(r2, state, -1.0)
        # ind + s_{t-1} <= 1
        r3 = mdl.add_rows(f"{name}_was_absent", (E, M, T), hi=np.concatenate([1.0 - prev0, later + 1.0], axis=2))
        mdl.add_terms(r3, ind, 1.0)
        mdl.add_terms(r3.ids[:, :, 1:], state.ids[:, :, :-1], 1.0)


def _routing(mdl: Model, inst: Instance, v: dict[str, VarBlock]) -> None:
    """Serve only where loaded (u <= d y, likewise for neighbour pairs); every request served once."""
    M, R, P, T = inst.num_models, inst.num_regions, inst.num_pairs, inst.slots
    d = inst.demand.astype(float)
    rows = mdl.add_rows("local_where_loaded", (R, M, T), hi=0.0)
    mdl.add_terms(rows, v["local"], 1.0)
    mdl.add_terms(rows, v["loaded"].ids[inst.region_edge], -d)
    rows = mdl.add_rows("neighbour_where_loaded", (P, M, T), hi=0.0)
    mdl.add_terms(rows, v["neighbour"], 1.0)
    mdl.add_terms(rows, v["loaded"].ids[inst.pair_edge], -d[inst.pair_region])
    rows = mdl.add_rows("demand", (R, M, T), lo=d, hi=d)
    mdl.add_terms(rows, v["local"], 1.0)
    mdl.add_terms(rows, v["cloud"], 1.0)
    mdl.add_terms(rows.ids[inst.pair_region], v["neighbour"], 1.0)


def _compute_cuts(mdl: Model, inst: Instance, v: dict[str, VarBlock]) -> None:
    """Valid inequalities (docs/formulations.md, "Compute cuts"): the requests of a model served at an edge in a
    slot are at most what the edge's compute leaves for it, rounded down, and none unless it is loaded:

        U_emt <= K0_emt y_emt - (K0_emt - K1_emt) z_emt

    with U the requests served there (local and from neighbours), K0 = min(D, floor(C_e / pi_m)) and
    K1 = min(D, floor((C_e - l_m) / pi_m)) (D: the requests that could reach the edge). Rows whose
    coefficients are no tighter than the routing rows already are (K0 = D and K1 = K0) are left out."""
    E, M, T = inst.num_edges, inst.num_models, inst.slots
    d = inst.demand.astype(float)
    reach = np.zeros((E, M, T))
    np.add.at(reach, inst.region_edge, d)
    np.add.at(reach, inst.pair_edge, d[inst.pair_region])
    # The evaluator's capacity tolerance (docs/formulations.md), so that no plan it accepts is cut off.
    cap = inst.compute_seconds[:, None, None]
    cap = cap + 1e-6 * np.maximum(1.0, cap)
    pi = inst.edge_inference_seconds[None, :, None]
    k0 = np.minimum(reach, np.floor(cap / pi))
    k1 = np.minimum(reach, np.floor(np.maximum(cap - inst.load_seconds[None, :, None], 0.0) / pi))
    tight = (k0 < reach) | (k1 < k0)
    rows = mdl.add_rows("compute_cuts", (E, M, T), hi=0.0)
    mdl.add_terms(rows.ids[inst.region_edge], v["local"], 1.0, where=tight[inst.region_edge])
    mdl.add_terms(rows.ids[inst.pair_edge], v["neighbour"], 1.0, where=tight[inst.pair_edge])
    mdl.add_terms(rows, v["loaded"], -k0, where=tight)
    mdl.add_terms(rows, v["load"], k0 - k1, where=tight & (k1 < k0))


def _gpu_capacity(inst: Instance) -> np.ndarray:
    """(E,) the GPU memory the evaluator accepts (its relative tolerance, docs/formulations.md)."""
    cap = inst.edge_gpu_memory_gb
    return cap + 1e-6 * np.maximum(1.0, cap)


def _cover_cuts(mdl: Model, inst: Instance, v: dict[str, VarBlock]) -> None:
    """Valid inequalities (docs/formulations.md, "GPU-memory cover cuts") of the knapsacks sum_m g_m y_emt <= G_e.

    Models ordered by (g_m, m). A model that does not fit alone (g_i > G_e) is never loaded: y_eit <= 0. For a
    model i that fits, its clique K_ei = {i} and every later model k with g_i + g_k > G_e: any two of K_ei
    exceed G_e together, so sum_{k in K_ei} y_ekt <= 1. Only maximal cliques are kept (i's predecessor fits
    with it; else the predecessor's clique holds K_ei) of two models or more. Row (e, i, t) holds K_ei's row,
    or i's y <= 0, or nothing. Built per distinct capacity: O(nonzeros) memory, never an (M, M) array."""
    E, M, T = inst.num_edges, inst.num_models, inst.slots
    g = inst.model_gpu_memory_gb
    cap = _gpu_capacity(inst)
    order = np.lexsort((np.arange(M), g))
    gs = g[order]
    fits = g[None, :] <= cap[:, None]  # (E, M)
    rows = mdl.add_rows("cover_cuts", (E, M, T), hi=np.where(fits, 1.0, 0.0)[:, :, None])
    y = v["loaded"].ids
    for c in np.unique(cap):
        es = np.flatnonzero(cap == c)[:, None]
        fit = int(np.searchsorted(gs, c, side="right"))  # sorted positions below fit are the models that fit
        never = order[fit:][None, :]
        mdl.add_terms(rows.ids[es, never], y[es, never], 1.0)
        p = np.arange(fit)
        # The first later model k with g_p + g_k > G: K is p and the sorted models from there to fit.
        first = np.maximum(p + 1, np.searchsorted(gs[:fit], c - gs[:fit], side="right"))
        alone = np.concatenate([[True], gs[:fit - 1] + gs[1:fit] <= c]) if fit else np.zeros(0, dtype=bool)
        keep = alone & (first < fit)
        p, first = p[keep], first[keep]
        size = 1 + fit - first
        head = np.repeat(p, size)  # the row's model, once per member
        offset = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)  # 0, 1, ... within each row
        member = np.where(offset == 0, head, np.repeat(first, size) + offset - 1)
        mdl.add_terms(rows.ids[es, order[head][None, :]], y[es, order[member][None, :]], 1.0)


#: The optional additions to the formulation, by name (each proved valid in docs/formulations.md).
CUTS = {"compute": _compute_cuts, "cover": _cover_cuts}


def formulate(inst: Instance, *, cuts: tuple[str, ...] = ()) -> Formulation:
    """Build the deployment MILP (docs/formulations.md) from whole arrays; no loop per variable.

    ``cuts`` names optional valid inequalities to add (:data:`CUTS`): ``"compute"``, ``"cover"``."""
    cuts = (cuts,) if isinstance(cuts, str) else tuple(cuts)
    unknown = sorted(set(cuts) - set(CUTS))
    if unknown:
        raise ValueError(f"unknown cuts {', '.join(map(repr, unknown))}; the deployment formulation has "
                         f"{', '.join(map(repr, CUTS))}")
    mdl = Model(f"deployment:{inst.name}", sense="min")
    v = _variables(mdl, inst)
    _objective(mdl, inst, v)
    _capacities(mdl, inst, v)
    _switching(mdl, inst, v)
    _routing(mdl, inst, v)
    for name in cuts:
        CUTS[name](mdl, inst, v)
    return Formulation(mdl, v, inst.initial_stored, inst.initial_loaded)
