"""The deployment MILP written by hand in Pyomo the usual algebraic way: the anchor for edgeopt's build time.

Sets of names, Params, indexed Vars, one rule per constraint family, an objective rule: the model an
OR researcher would write from docs/formulations.md. It states the same variables, bounds, objective
and rows as :func:`edgeopt.families.deployment.formulate` (tests/test_pyomo_algebraic.py proves it row by
row), so the build times of the two are comparable. It is the benchmark's reference only, not
edgeopt's ``pyomo`` backend, which translates the matrix form.

Names follow formulate(): constraints are named as its row blocks; the variables are its blocks,
except that ``load`` and ``download`` are ``loads`` and ``downloads`` here (``load`` is a reserved
attribute of a Pyomo Block).

Per-request costs are computed here from the raw data (access and link delays, inference times, the
cloud's price) rather than taken from the Instance's ``cost_*`` arrays, as a hand-written model would,
which also checks those arrays independently.

    python -c "import edgeopt; from benchmarks.pyomo_algebraic import build; \
build(edgeopt.generate('deployment', seed=1)).pprint()"
"""
from __future__ import annotations

from collections import defaultdict

import pyomo.environ as pyo


def build(instance) -> pyo.ConcreteModel:
    """A Pyomo ConcreteModel of ``instance``'s deployment MILP (constraint names as formulate()'s row blocks)."""
    inst = instance
    edges, models, regions = inst.edge_names, inst.model_names, inst.region_names
    region_edge = {regions[r]: edges[e] for r, e in enumerate(inst.region_edge)}
    pairs = [(regions[r], edges[e]) for r, e in zip(inst.pair_region, inst.pair_edge)]
    slots = range(inst.slots)

    m = pyo.ConcreteModel(name=f"deployment:{inst.name}")

    # -- sets --------------------------------------------------------------------------------------
    m.E = pyo.Set(initialize=edges, ordered=True, doc="edge servers")
    m.M = pyo.Set(initialize=models, ordered=True, doc="generative models")
    m.R = pyo.Set(initialize=regions, ordered=True, doc="user regions")
    m.T = pyo.Set(initialize=slots, ordered=True, doc="time slots")
    m.P = pyo.Set(initialize=pairs, dimen=2, ordered=True, doc="(region, neighbour edge its edge links to)")
    regions_at, pairs_to, pairs_of = defaultdict(list), defaultdict(list), defaultdict(list)
    for r in regions:
        regions_at[region_edge[r]].append(r)
    for r, e in pairs:
        pairs_to[e].append((r, e))
        pairs_of[r].append((r, e))
    m.regions_at = pyo.Set(m.E, initialize=lambda m, e: regions_at[e], doc="regions whose own edge is e")
    m.pairs_to = pyo.Set(m.E, dimen=2, initialize=lambda m, e: pairs_to[e], doc="neighbour pairs served at edge e")
    m.pairs_of = pyo.Set(m.R, dimen=2, initialize=lambda m, r: pairs_of[r], doc="neighbour pairs of region r")

    # -- parameters --------------------------------------------------------------------------------
    by_model = lambda a: dict(zip(models, map(float, a)))  # noqa: E731
    by_edge = lambda a: dict(zip(edges, map(float, a)))  # noqa: E731
    m.size_gb = pyo.Param(m.M, initialize=by_model(inst.model_storage_gb))
    m.gpu_gb = pyo.Param(m.M, initialize=by_model(inst.model_gpu_memory_gb))
    m.load_s = pyo.Param(m.M, initialize=by_model(inst.load_seconds))
    m.edge_inf_s = pyo.Param(m.M, initialize=by_model(inst.edge_inference_seconds))
    m.cloud_inf_s = pyo.Param(m.M, initialize=by_model(inst.cloud_inference_seconds))
    m.storage_cap = pyo.Param(m.E, initialize=by_edge(inst.edge_storage_gb))
    m.gpu_cap = pyo.Param(m.E, initialize=by_edge(inst.edge_gpu_memory_gb))
    m.compute_cap = pyo.Param(m.E, initialize=by_edge(inst.compute_seconds))
    m.access_s = pyo.Param(m.E, initialize=by_edge(inst.access_delay_seconds))
    m.backhaul_gbps = pyo.Param(m.E, initialize=by_edge(inst.backhaul_gbps))
    m.link_s = pyo.Param(m.P, initialize=dict(zip(pairs, map(float, inst.pair_delay_seconds))))
    m.home = pyo.Param(m.R, initialize=region_edge, within=m.E)
    demand = inst.demand.tolist()
    m.requests = pyo.Param(m.R, m.M, m.T, initialize={
        (regions[r], models[k], t): demand[r][k][t]
        for r in range(inst.num_regions) for k in range(inst.num_models) for t in slots}, doc="requests per slot")
    m.stored0 = pyo.Param(m.E, m.M, initialize={(edges[e], models[k]): int(inst.initial_stored[e, k])
                                                 for e in range(inst.num_edges) for k in range(inst.num_models)})
    m.loaded0 = pyo.Param(m.E, m.M, initialize={(edges[e], models[k]): int(inst.initial_loaded[e, k])
                                                 for e in range(inst.num_edges) for k in range(inst.num_models)})
    m.slot_s = pyo.Param(initialize=inst.slot_seconds)
    m.w_delay = pyo.Param(initialize=inst.delay_per_second)
    m.w_storage = pyo.Param(initialize=inst.storage_per_gb)
    m.w_gpu = pyo.Param(initialize=inst.gpu_memory_per_gb)
    m.w_backhaul = pyo.Param(initialize=inst.backhaul_per_gb)
    m.wan_s = pyo.Param(initialize=inst.wan_delay_seconds)
    m.cloud_price = pyo.Param(initialize=inst.cloud_cost_per_request)
    m.cloud_on = pyo.Param(initialize=inst.cloud_enabled, within=pyo.Boolean)

    def download_s(m, e, k):
        return 8.0 * m.size_gb[k] / m.backhaul_gbps[e]

    # -- variables ---------------------------------------------------------------------------------
    m.stored = pyo.Var(m.E, m.M, m.T, domain=pyo.Binary)
    m.loaded = pyo.Var(m.E, m.M, m.T, domain=pyo.Binary)
    m.loads = pyo.Var(m.E, m.M, m.T, domain=pyo.Binary, doc="1 if the model is loaded into GPU memory in slot t")
    m.downloads = pyo.Var(m.E, m.M, m.T, domain=pyo.Binary, doc="1 if the model is downloaded in slot t")
    m.local = pyo.Var(m.R, m.M, m.T, domain=pyo.NonNegativeIntegers,
                      bounds=lambda m, r, k, t: (0, m.requests[r, k, t]))
    m.neighbour = pyo.Var(m.P, m.M, m.T, domain=pyo.NonNegativeIntegers,
                          bounds=lambda m, r, e, k, t: (0, m.requests[r, k, t]))
    m.cloud = pyo.Var(m.R, m.M, m.T, domain=pyo.NonNegativeIntegers,
                      bounds=lambda m, r, k, t: (0, m.requests[r, k, t] if pyo.value(m.cloud_on) else 0))

    # -- objective ---------------------------------------------------------------------------------
    def total_cost(m):
        resources = sum(m.w_storage * m.size_gb[k] * m.stored[e, k, t] + m.w_gpu * m.gpu_gb[k] * m.loaded[e, k, t]
                        + m.w_delay * m.load_s[k] * m.loads[e, k, t]
                        + (m.w_delay * download_s(m, e, k) + m.w_backhaul * m.size_gb[k]) * m.downloads[e, k, t]
                        for e in m.E for k in m.M for t in m.T)
        local = sum(m.w_delay * (m.access_s[m.home[r]] + m.edge_inf_s[k]) * m.local[r, k, t]
                    for r in m.R for k in m.M for t in m.T)
        neighbour = sum(m.w_delay * (m.access_s[m.home[r]] + m.link_s[r, e] + m.edge_inf_s[k]) * m.neighbour[r, e, k, t]
                        for (r, e) in m.P for k in m.M for t in m.T)
        cloud = sum((m.w_delay * (m.access_s[m.home[r]] + m.wan_s + m.cloud_inf_s[k]) + m.cloud_price)
                    * m.cloud[r, k, t] for r in m.R for k in m.M for t in m.T)
        return resources + local + neighbour + cloud

    m.total_cost = pyo.Objective(rule=total_cost, sense=pyo.minimize)

    # -- capacities per edge and slot --------------------------------------------------------------
    m.storage = pyo.Constraint(m.E, m.T, rule=lambda m, e, t: sum(
        m.size_gb[k] * m.stored[e, k, t] for k in m.M) <= m.storage_cap[e])
    m.gpu_memory = pyo.Constraint(m.E, m.T, rule=lambda m, e, t: sum(
        m.gpu_gb[k] * m.loaded[e, k, t] for k in m.M) <= m.gpu_cap[e])

    def compute(m, e, t):
        served_here = sum(m.edge_inf_s[k] * m.local[r, k, t] for r in m.regions_at[e] for k in m.M)
        served_for_neighbours = sum(m.edge_inf_s[k] * m.neighbour[r, e2, k, t]
                                    for (r, e2) in m.pairs_to[e] for k in m.M)
        loading = sum(m.load_s[k] * m.loads[e, k, t] for k in m.M)
        return served_here + served_for_neighbours + loading <= m.compute_cap[e]

    m.compute = pyo.Constraint(m.E, m.T, rule=compute)
    m.backhaul = pyo.Constraint(m.E, m.T, rule=lambda m, e, t: sum(
        download_s(m, e, k) * m.downloads[e, k, t] for k in m.M) <= m.slot_s)

    m.loaded_implies_stored = pyo.Constraint(m.E, m.M, m.T, rule=lambda m, e, k, t: m.loaded[e, k, t]
                                             <= m.stored[e, k, t])

    # -- switching: load[t] = max(0, loaded[t] - loaded[t-1]) for binaries, in three rows; likewise download.
    # Before slot 0 the state is the instance's initial state (data, so those rows hold a constant).
    def loaded_before(m, e, k, t):
        return m.loaded0[e, k] if t == m.T.first() else m.loaded[e, k, m.T.prev(t)]

    def stored_before(m, e, k, t):
        return m.stored0[e, k] if t == m.T.first() else m.stored[e, k, m.T.prev(t)]

    m.load_lower = pyo.Constraint(m.E, m.M, m.T, rule=lambda m, e, k, t: m.loads[e, k, t] - m.loaded[e, k, t]
                                  + loaded_before(m, e, k, t) >= 0)
    m.load_needs_state = pyo.Constraint(m.E, m.M, m.T, rule=lambda m, e, k, t: m.loads[e, k, t]
                                        - m.loaded[e, k, t] <= 0)
    m.load_was_absent = pyo.Constraint(m.E, m.M, m.T, rule=lambda m, e, k, t: m.loads[e, k, t]
                                       + loaded_before(m, e, k, t) <= 1)
    m.download_lower = pyo.Constraint(m.E, m.M, m.T, rule=lambda m, e, k, t: m.downloads[e, k, t]
                                      - m.stored[e, k, t] + stored_before(m, e, k, t) >= 0)
    m.download_needs_state = pyo.Constraint(m.E, m.M, m.T, rule=lambda m, e, k, t: m.downloads[e, k, t]
                                            - m.stored[e, k, t] <= 0)
    m.download_was_absent = pyo.Constraint(m.E, m.M, m.T, rule=lambda m, e, k, t: m.downloads[e, k, t]
                                           + stored_before(m, e, k, t) <= 1)

    # -- serve only where loaded; every request served exactly once ---------------------------------
    m.local_where_loaded = pyo.Constraint(m.R, m.M, m.T, rule=lambda m, r, k, t: m.local[r, k, t]
                                          <= m.requests[r, k, t] * m.loaded[m.home[r], k, t])
    m.neighbour_where_loaded = pyo.Constraint(m.P, m.M, m.T, rule=lambda m, r, e, k, t: m.neighbour[r, e, k, t]
                                              <= m.requests[r, k, t] * m.loaded[e, k, t])
    m.demand = pyo.Constraint(m.R, m.M, m.T, rule=lambda m, r, k, t: m.local[r, k, t] + m.cloud[r, k, t] + sum(
        m.neighbour[r, e, k, t] for (_, e) in m.pairs_of[r]) == m.requests[r, k, t])
    return m
