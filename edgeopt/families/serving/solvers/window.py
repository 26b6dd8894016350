"""One cell over consecutive slots, the unit every exact method of the family solves.

Cells never interact (a cell's radio, edge GPU, memory and backlog are its own), so the whole horizon is the
sum of one problem per cell; an online method solves one per cell and slot (``myopic``) or per cell and
rolling window (``mpc``). A :class:`Window` holds a cell's requests over ``L`` slots as arrays: their options
(from each slot's option table, edgeopt.mec), each option's value, square-root costs on its slot's three
resources and GPU work on the edge, and the state the window starts from (models loaded, backlog).

**Value** (:func:`window_value`, the truth the methods price incumbents with; the same as the evaluator's on
the cell): the chosen options' values and the refused requests' penalties, less per slot and resource the
squared sum of the chosen options' square-root costs (optimal shares), less ``loading_per_second`` x the
seconds of the models loaded in each slot (loaded now, not in the slot before), less ``delay_per_second`` x
the backlog at each slot's end, ``B_j = max(0, B_{j-1} + work_j - slot_seconds)``, ``work_j`` the slot's edge
requests' GPU seconds plus its loads' seconds.

**The MILP** (:class:`WindowMILP`; docs/formulations.md, "serving"): binary z per option and y per (slot,
model), load l_{jm} >= y_{jm} - y_{j-1,m}, backlog B_j >= B_{j-1} + work_j - slot_seconds and B_j >= 0 (each
second charged delay_per_second), theta_{jr} >= the square of the slot's summed roots, kept as tangent cuts; one option per request, an edge option only with its model loaded, the loaded models
within the GPU memory. Maximised, with every theta below its square, the MILP's optimum bounds the window's
from above; :func:`solve_oa` adds the tangent at each MILP choice until the bound meets the best true value
(outer approximation, Duran and Grossmann, Math. Programming 36, 1986), as the offloading family's
offload-oa does slot by slot.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from edgeopt.highs import solve_by_deadline
from edgeopt.mec import EDGE, TOL
from edgeopt.modeling import Model
from edgeopt.result import PROOF_RTOL, Status

#: Relative (and absolute) tolerance at which an incumbent and a bound prove optimality: edgeopt's one proof
#: tolerance (docs/solvers.md).
PROOF_TOL = PROOF_RTOL
#: HiGHS's integrality tolerance tightened from its 1e-6: a value near 80 on a variable 1e-6 from 1 moves the
#: MILP's optimum by 1e-4 from the true value of the rounded plan, beyond PROOF_TOL on windows of thousands.
HIGHS_OPTIONS = {"mip_feasibility_tolerance": 1e-9}


@dataclass(frozen=True)
class Statics:
    """What every slot shares and an online method may know in advance (no arrival): the edges' and models'
    data, the configurations' generation times, the weights."""

    num_edges: int
    num_models: int
    user_edge: np.ndarray  # (U,) each user's cell
    edge_memory_gb: np.ndarray
    edge_speed: np.ndarray
    model_memory_gb: np.ndarray
    model_load_seconds: np.ndarray
    config_reference_seconds: np.ndarray
    slot_seconds: float
    delay_per_second: float
    loading_per_second: float
    slots: int = 0  # the horizon's length (a fact of the problem, not an arrival)

    @classmethod
    def of(cls, inst) -> Statics:
        return cls(inst.num_edges, inst.num_models, inst.user_edge, inst.edge_memory_gb, inst.edge_speed, inst.model_memory_gb,
                   inst.model_load_seconds, inst.config_reference_seconds, inst.slot_seconds, inst.delay_per_second,
                   inst.loading_per_second, inst.slots)


@dataclass(frozen=True)
class State:
    """What carries into a slot: ``loaded`` (E, M) the models each edge holds, ``backlog`` (E,) its unfinished
    GPU seconds."""

    loaded: np.ndarray
    backlog: np.ndarray

    @classmethod
    def initial(cls, inst) -> State:
        return cls(np.array(inst.initial_loaded, dtype=bool), np.array(inst.initial_backlog_seconds, dtype=float))


@dataclass(frozen=True, eq=False)
class Window:
    """A cell's requests over ``L`` consecutive slots (``tables[j]``: slot j's option table), as arrays.
    Requests ``0..R-1`` (``req_slot``, ``req_pos``: position in ``tables[j].users``), options ``0..O-1``
    (``opt_id``: index in its slot's table)."""

    edge: int
    tables: tuple
    req_slot: np.ndarray
    req_pos: np.ndarray
    refusal: np.ndarray  # (R,) each request's value when refused
    opt_req: np.ndarray
    opt_id: np.ndarray
    value: np.ndarray
    root: np.ndarray  # (O, 3) sqrt of the costs on the slot's uplink, downlink, compute
    place: np.ndarray
    model: np.ndarray
    work: np.ndarray  # (O,) GPU seconds at the edge (edge options)
    memory: np.ndarray  # (M,) GB
    load: np.ndarray  # (M,) seconds
    capacity: float  # GB, with the capacity checks' tolerance
    slot_seconds: float
    lam_t: float
    lam_l: float
    loaded0: np.ndarray  # (M,) bool
    backlog0: float

    @property
    def L(self) -> int:
        return len(self.tables)

    @property
    def R(self) -> int:
        return int(self.req_slot.size)

    @property
    def O(self) -> int:
        return int(self.opt_req.size)

    @property
    def M(self) -> int:
        return int(self.memory.size)

    @property
    def opt_slot(self) -> np.ndarray:
        return self.req_slot[self.opt_req]


def build_window(statics: Statics, edge: int, tables, state: State) -> Window:
    """The window of cell ``edge`` over the slots of ``tables`` (option tables, edgeopt.mec), from ``state``."""
    rs, rp, rv, oq, oi, ov, orr, op, om, ow = ([] for _ in range(10))
    r = 0
    for j, o in enumerate(tables):
        mine = np.flatnonzero(o.edge == edge)  # options of this cell's users
        standalone = o.value[mine] - o.cost[mine].sum(axis=1)
        mine = mine[np.isfinite(standalone) & np.isfinite(o.cost[mine]).all(axis=1)]
        users = np.flatnonzero(statics.user_edge[o.users] == edge)  # positions of the cell's requesters
        index = {int(p): r + i for i, p in enumerate(users)}
        rs += [j] * users.size
        rp += users.tolist()
        rv += [o.refusal_value] * users.size
        pos = np.searchsorted(o.users, o.user[mine])
        oq += [index[int(p)] for p in pos]
        oi += mine.tolist()
        ov += o.value[mine].tolist()
        orr.append(np.sqrt(o.cost[mine]))
        op += o.place[mine].tolist()
        om += o.model[mine].tolist()
        ow += np.where(o.place[mine] == EDGE, statics.config_reference_seconds[o.config[mine]] /
                       statics.edge_speed[edge], 0.0).tolist()
        r += users.size
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731 (a one-line helper)
    return Window(edge=edge, tables=tuple(tables), req_slot=i64(rs), req_pos=i64(rp), refusal=np.array(rv, float),
                  opt_req=i64(oq), opt_id=i64(oi), value=np.array(ov, float),
                  root=np.concatenate(orr) if orr else np.zeros((0, 3)), place=i64(op), model=i64(om),
                  work=np.array(ow, float), memory=np.asarray(statics.model_memory_gb, float),
                  load=np.asarray(statics.model_load_seconds, float),
                  capacity=float(statics.edge_memory_gb[edge]) * (1 + TOL), slot_seconds=float(statics.slot_seconds),
                  lam_t=float(statics.delay_per_second), lam_l=float(statics.loading_per_second),
                  loaded0=np.array(state.loaded[edge], dtype=bool), backlog0=float(state.backlog[edge]))


# -- the truth of a window --------------------------------------------------------------------------------
def window_dynamics(w: Window, choice: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loads (L, M) bool, backlog at each slot's end (L,), backlog each slot starts with (L,)) for a choice
    per request (option or -1) and the loaded models ``y`` (L, M)."""
    y = np.asarray(y, dtype=bool)
    before = np.vstack([w.loaded0[None, :], y[:-1]])
    loads = y & ~before
    picked = choice[choice >= 0]
    work = np.bincount(w.opt_slot[picked], weights=w.work[picked], minlength=w.L) + loads.astype(float) @ w.load
    end, start = np.zeros(w.L), np.zeros(w.L)
    b = w.backlog0
    for j in range(w.L):
        start[j] = b
        b = max(0.0, b + work[j] - w.slot_seconds)
        end[j] = b
    return loads, end, start


def window_feasible(w: Window, choice: np.ndarray, y: np.ndarray) -> bool:
    picked = choice[choice >= 0]
    on_edge = picked[w.place[picked] == EDGE]
    if not np.asarray(y, bool)[w.opt_slot[on_edge], w.model[on_edge]].all():
        return False
    return bool((np.asarray(y, float) @ w.memory <= w.capacity).all())


def window_value(w: Window, choice: np.ndarray, y: np.ndarray) -> float:
    """The window's objective for a choice per request and the loaded models (module docstring)."""
    choice = np.asarray(choice, dtype=np.int64)
    picked = choice[choice >= 0]
    value = float(w.value[picked].sum() + w.refusal[choice < 0].sum())
    roots = np.zeros((w.L, 3))
    np.add.at(roots, w.opt_slot[picked], w.root[picked])
    loads, end, _ = window_dynamics(w, choice, y)
    return (value - float((roots ** 2).sum()) - w.lam_l * float(loads.astype(float).sum(axis=0) @ w.load)
            - w.lam_t * float(end.sum()))


def minimal_loaded(w: Window, choice: np.ndarray) -> np.ndarray:
    """(L, M) the models the choice's edge options need, and nothing else."""
    y = np.zeros((w.L, w.M), dtype=bool)
    picked = choice[choice >= 0]
    on_edge = picked[w.place[picked] == EDGE]
    y[w.opt_slot[on_edge], w.model[on_edge]] = True
    return y


def backlog_bounds(w: Window) -> np.ndarray:
    """(L,) an upper bound on the backlog at each slot's end: every request at the edge with its longest edge
    option, every model that fits loaded anew in every slot."""
    most = np.zeros(w.R)
    edge = w.place == EDGE
    np.maximum.at(most, w.opt_req[edge], w.work[edge])
    per_slot = np.bincount(w.req_slot, weights=most, minlength=w.L) + w.load[w.memory <= w.capacity].sum()
    out = np.zeros(w.L)
    b = w.backlog0
    for j in range(w.L):
        b = max(0.0, b + per_slot[j] - w.slot_seconds)
        out[j] = b
    return out


# -- the MILP and outer approximation ---------------------------------------------------------------------
class WindowMILP:
    """The window's MILP (module docstring) with the tangent cuts added so far."""

    def __init__(self, w: Window):
        self.w = w
        L, M, O, R = w.L, w.M, w.O, w.R
        m = Model(f"serving-cell{w.edge}", sense="max")
        fits = (w.memory <= w.capacity).astype(float)
        self.z = m.add_variables("z", (O,), ub=1, integer=True)
        self.y = m.add_variables("y", (L, M), ub=np.broadcast_to(fits, (L, M)), integer=True)
        self.l = m.add_variables("load", (L, M), ub=np.broadcast_to(fits, (L, M)))
        bmax = backlog_bounds(w)
        self.bmax = bmax
        self.B = m.add_variables("backlog", (L,), ub=bmax)
        edge = np.flatnonzero(w.place == EDGE)
        s_max = self.s_max()
        self.theta = m.add_variables("theta", (L, 3), ub=s_max ** 2)
        # objective
        m.add_objective(self.z, w.value - w.refusal[w.opt_req])
        m.add_objective(self.theta, -1.0)
        m.add_objective(self.l, -w.lam_l * np.broadcast_to(w.load, (L, M)))
        m.add_objective(self.B, -w.lam_t)
        m.add_objective_constant(float(w.refusal.sum()))
        # one option per request
        one = m.add_rows("one", (R,), hi=1.0)
        m.add_terms(one.ids[w.opt_req], self.z.ids, 1.0)
        # an edge option needs its model loaded: per (request, model) sum z <= y
        if edge.size:
            key = w.opt_req[edge] * M + w.model[edge]
            groups, group_of = np.unique(key, return_inverse=True)
            link = m.add_rows("needs_loaded", (groups.size,), hi=0.0)
            m.add_terms(link.ids[group_of], self.z.ids[edge], 1.0)
            req, mod = groups // M, groups % M
            m.add_terms(link.ids, self.y.ids[w.req_slot[req], mod], -1.0)
        memory = m.add_rows("memory", (L,), hi=w.capacity)
        m.add_terms(memory.ids[:, None], self.y.ids, w.memory[None, :])
        # loads: l_jm - y_jm + y_{j-1}m >= 0; first slot against the initial state
        loads = m.add_rows("loads", (L, M), lo=np.vstack([-w.loaded0[None, :].astype(float), np.zeros((L - 1, M))]))
        m.add_terms(loads.ids, self.l.ids, 1.0)
        m.add_terms(loads.ids, self.y.ids, -1.0)
        if L > 1:
            m.add_terms(loads.ids[1:], self.y.ids[:-1], 1.0)
        # backlog: B_j - B_{j-1} - work_j - loads_j >= -slot_seconds (first slot: the initial backlog)
        lo = np.full(L, -w.slot_seconds)
        lo[0] += w.backlog0
        back = m.add_rows("backlog", (L,), lo=lo)
        m.add_terms(back.ids, self.B.ids, 1.0)
        if L > 1:
            m.add_terms(back.ids[1:], self.B.ids[:-1], -1.0)
        m.add_terms(back.ids[w.opt_slot[edge]], self.z.ids[edge], -w.work[edge])
        m.add_terms(back.ids[:, None], self.l.ids, -np.broadcast_to(w.load, (L, M)))
        self.model = m
        self.cuts: set[tuple[int, int, float]] = set()
        self.rounds = 0

    def s_max(self) -> np.ndarray:
        """(L, 3) the largest summed root each slot's resources can carry (every request's largest)."""
        w = self.w
        most = np.zeros((w.R, 3))
        np.maximum.at(most, w.opt_req, w.root)
        out = np.zeros((w.L, 3))
        np.add.at(out, w.req_slot, most)
        return out

    def s_of(self, z: np.ndarray) -> np.ndarray:
        w = self.w
        out = np.zeros((w.L, 3))
        np.add.at(out, w.opt_slot, w.root * z[:, None])
        return out

    def add_cuts(self, points: np.ndarray) -> int:
        """Tangent cuts theta_jr >= 2 p s_jr - p^2 at ``points`` (L, 3) (a point <= 0 or known: none)."""
        w = self.w
        keep = [(j, r, float(points[j, r])) for j in range(w.L) for r in range(3)
                if points[j, r] > 0 and (j, r, float(points[j, r])) not in self.cuts]
        if not keep:
            return 0
        self.cuts.update(keep)
        self.rounds += 1
        rows = self.model.add_rows(f"cuts{self.rounds}", (len(keep),), hi=np.array([p * p for _, _, p in keep]))
        for i, (j, r, p) in enumerate(keep):
            mine = np.flatnonzero((w.opt_slot == j) & (w.root[:, r] > 0))
            self.model.add_terms(rows.ids[i], self.theta.ids[j, r], -1.0)
            if mine.size:
                self.model.add_terms(rows.ids[i], self.z.ids[mine], 2.0 * p * w.root[mine, r])
        return len(keep)


@dataclass(frozen=True)
class WindowAnswer:
    choice: np.ndarray  # (R,) option or -1
    y: np.ndarray  # (L, M) bool
    value: float
    bound: float | None
    proven: bool
    stopped: bool
    raw: str
    milps: int = 0


def solve_oa(w: Window, start: tuple[np.ndarray, np.ndarray], until: float | None, *, seed: int | None = None,
             start_points: int = 4, max_rounds: int = 10_000) -> WindowAnswer:
    """Outer approximation of a window from a feasible ``start`` (choice, y) until the MILP's bound meets the
    best true value within PROOF_TOL (module docstring)."""
    best_choice, best_y = start
    best = window_value(w, best_choice, best_y)
    if w.O == 0:  # no request, or nothing can serve them: refusing (and loading nothing) is all there is
        y = np.zeros((w.L, w.M), dtype=bool)
        v = window_value(w, np.full(w.R, -1, np.int64), y)
        return WindowAnswer(np.full(w.R, -1, np.int64), y, v, v, True, False,
                            "no request in the cell" if w.R == 0 else "nothing can serve the cell's requests")
    master = WindowMILP(w)
    s_max = master.s_max()
    for k in range(1, start_points + 1):
        master.add_cuts(s_max * k / start_points)
    z0 = np.zeros(w.O)
    z0[best_choice[best_choice >= 0]] = 1.0
    master.add_cuts(master.s_of(z0))
    bound, milps, proven, stopped, raw = None, 0, False, False, ""
    start_x = None  # the last MILP's solution, theta raised onto the parabola: feasible for the next MILP
    while True:
        left = None if until is None else until - time.perf_counter()
        if left is not None and left <= 0:
            stopped, raw = True, "time limit between MILPs"
            break
        if milps >= max_rounds:
            raw = f"max_rounds={max_rounds} MILPs solved"
            break
        milps += 1
        out = solve_by_deadline(master.model.matrix(), until, seed=seed, start=start_x, options=HIGHS_OPTIONS)
        if out.bound is not None:
            bound = out.bound if bound is None else min(bound, out.bound)
        if out.x is None:
            stopped = out.status == Status.TIME_LIMIT
            raw = f"HiGHS: {out.raw_status}"
            break
        z = np.round(out.x[master.z.ids])
        y = np.round(out.x[master.y.ids]).astype(bool)
        choice = np.full(w.R, -1, dtype=np.int64)
        on = np.flatnonzero(z > 0.5)
        choice[w.opt_req[on]] = on
        if window_feasible(w, choice, y):
            # the loaded set is the MILP's; a model loaded but unused is kept only if that is worth it, which
            # the true value decides: compare with the minimal set too
            for cand in (y, minimal_loaded(w, choice)):
                v = window_value(w, choice, cand)
                if v > best:
                    best, best_choice, best_y = v, choice, cand
        if out.status != Status.OPTIMAL:
            stopped = out.status == Status.TIME_LIMIT
            raw = f"HiGHS: {out.raw_status}"
            break
        tol = PROOF_TOL * max(1.0, abs(best))
        if bound is not None and bound - best <= tol:
            proven, raw = True, "bound met"
            break
        if out.objective is not None and out.objective - best <= tol:
            proven, raw = True, "MILP optimum met (HiGHS's bound within its tolerances)"
            break
        s = master.s_of(z)
        theta = out.x[master.theta.ids]
        start_x = out.x.copy()
        start_x[master.z.ids] = z
        start_x[master.y.ids] = y
        start_x[master.theta.ids] = np.minimum(s ** 2, master.s_max() ** 2)
        # a cut wherever theta lies below the square; the proof test above is relative PROOF_TOL of the whole
        # window, so a cut is due even where theta is short by far less than that per resource
        short = theta < s ** 2 - 1e-12 * np.maximum(1.0, s ** 2)
        if master.add_cuts(np.where(short, s, 0.0)) == 0:
            raw = "no new cut (the MILP's theta lies on the parabola within HiGHS's tolerances)"
            break
    if bound is not None:
        bound = max(bound, best)
    return WindowAnswer(best_choice, best_y, best, bound, proven, stopped, f"outer approximation: {raw}", milps)
