"""The generalized assignment problem (GAP), in J.E. Beasley's OR-Library format and as JSON.

Each job goes to exactly one agent; an agent's jobs use at most its capacity of resource; the
assignment maximises total profit or minimises total cost. The math (symbols, objective,
constraints), both file formats and the heuristics are in docs/gap.md.

Unlike deployment, the family has no single sense: OR-Library's gap1-gap12 maximise profit and
gapa-gapd minimise cost, so ``SENSE`` is None and every :class:`Instance` carries its own ``sense``
("max" or "min"), which is what :mod:`edgeopt.api` and the MILP backends read.

A solution is an assignment: an integer array of length ``jobs`` holding each job's agent index
(0-based), -1 for a job left unassigned. :func:`evaluate` also takes the 0/1 matrix
``x[agent, job]`` a MILP backend returns, so a job given to two agents is reported too.
"""
from __future__ import annotations

import bisect
import contextlib
import copy
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeopt.io import Document, InstanceError, content_hash
from edgeopt.modeling import Model, VarBlock
from edgeopt.result import Evaluation, Violation
from edgeopt.schema import NAME, document

KIND = "gap"
#: None: the sense is per instance (``Instance.sense``); OR-Library has maximisation and minimisation sets.
SENSE = None
#: Largest model (agents x jobs binary variables) an instance may describe; beyond it the file is refused.
MAX_VARIABLES = 20_000_000
MAX_AGENTS = 100_000
MAX_JOBS = 10_000_000
#: Largest magnitude of a profit, cost, resource or capacity.
MAX_VALUE = 1e12
#: Relative tolerance of the evaluator's capacity check (data are usually integers: sums are exact).
TOL = 1e-9
#: Which key holds the objective matrix for each sense.
OBJECTIVE_KEY = {"max": "profit", "min": "cost"}

# -- schema --------------------------------------------------------------------------------------
_VALUE = {"type": "number", "minimum": -MAX_VALUE, "maximum": MAX_VALUE}
_AMOUNT = {"type": "number", "minimum": 0, "maximum": MAX_VALUE}


def _matrix(item: dict) -> dict:
    return {"type": "array", "minItems": 1, "maxItems": MAX_AGENTS,
            "items": {"type": "array", "minItems": 1, "maxItems": MAX_JOBS, "items": item}}


SCHEMA = document(
    KIND, "edgeopt generalized assignment (gap) instance",
    ["sense", "agents", "jobs", "resource", "capacity"],
    {
        "sense": {"enum": ["max", "min"]},
        "agents": {"type": "integer", "minimum": 1, "maximum": MAX_AGENTS},
        "jobs": {"type": "integer", "minimum": 1, "maximum": MAX_JOBS},
        "profit": _matrix(_VALUE),
        "cost": _matrix(_VALUE),
        "resource": _matrix(_AMOUNT),
        "capacity": {"type": "array", "minItems": 1, "maxItems": MAX_AGENTS, "items": _AMOUNT},
    },
    description="x[agent, job] binary; every job to exactly one agent; sum_j resource[i][j] x[i, j] <= "
                "capacity[i]; maximise sum profit[i][j] x[i, j] (sense max) or minimise sum cost[i][j] "
                "x[i, j] (sense min). Exactly one of profit (max) and cost (min).",
)

#: The ``decisions`` of a solution file: each job's agent (0-based), -1 for an unassigned job.
SOLUTION_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["assignment"],
    "properties": {
        "assignment": {"type": "array", "items": {"type": "integer", "minimum": -1, "maximum": MAX_AGENTS}},
    },
}


# -- instance --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Instance(Document):
    """A validated GAP instance. Arrays are read-only, indexed ``[agent, job]``; ``data`` is a copy of
    the document."""

    name: str
    content: dict = field(repr=False)
    hash: str
    sense: str  # "max" (profit) or "min" (cost)
    agents: int
    jobs: int
    weight: np.ndarray  # (m, n) profit when sense is "max", cost when "min"
    resource: np.ndarray  # (m, n) resource a job uses at an agent
    capacity: np.ndarray  # (m,)

    kind = KIND

    @property
    def objective_key(self) -> str:
        """``"profit"`` or ``"cost"``: the document key of :attr:`weight` and the evaluator's part."""
        return OBJECTIVE_KEY[self.sense]

    @property
    def num_variables(self) -> int:
        return self.agents * self.jobs

    def __repr__(self) -> str:
        goal = "maximise profit" if self.sense == "max" else "minimise cost"
        return f"<gap instance {self.name!r}: {self.agents} agents, {self.jobs} jobs, {goal}>"


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def from_data(data: dict, source: str = "<data>") -> Instance:
    """Build an Instance from schema-valid data; raises InstanceError for every inconsistency."""
    problems: list[tuple[str, str]] = []
    m, n, sense = data["agents"], data["jobs"], data["sense"]
    key, other = OBJECTIVE_KEY[sense], OBJECTIVE_KEY["min" if sense == "max" else "max"]
    if m * n > MAX_VARIABLES:
        raise InstanceError(source, [("(top level)", f"{m} agents x {n} jobs is a model of {m * n:,} variables, "
                                      f"more than the limit of {MAX_VARIABLES:,}")])
    if other in data:
        goal = "maximised" if other == "profit" else "minimised"
        problems.append((other, f"a {other} matrix is {goal}, but this instance has sense {sense!r} "
                         f"(give '{key}' for sense {sense!r})"))
    elif key not in data:
        problems.append((key, f"missing required key (sense {sense!r} needs a '{key}' matrix)"))
    for name in (key, "resource"):
        rows = data.get(name)
        if rows is None:
            continue
        if len(rows) != m:
            problems.append((name, f"must have one row per agent ({m}), got {len(rows)}"))
        for i, row in enumerate(rows):
            if len(row) != n:
                problems.append((f"{name}[{i}]", f"must have one entry per job ({n}), got {len(row)}"))
    if len(data["capacity"]) != m:
        problems.append(("capacity", f"must have one entry per agent ({m}), got {len(data['capacity'])}"))
    if problems:
        raise InstanceError(source, problems)
    return Instance(
        name=data["name"], content=copy.deepcopy(data), hash=content_hash(data), sense=sense, agents=m, jobs=n,
        weight=_ro(np.array(data[key], dtype=float)), resource=_ro(np.array(data["resource"], dtype=float)),
        capacity=_ro(np.array(data["capacity"], dtype=float)),
    )


# -- the OR-Library text format --------------------------------------------------------------------
def sense_from_name(path: str | Path) -> str | None:
    """OR-Library's naming: gap1..gap12 maximise, gapa..gapd minimise; None when the name does not tell."""
    stem = Path(path).stem.lower()
    if re.fullmatch(r"gap\d+", stem):
        return "max"
    if re.fullmatch(r"gap[a-d]", stem):
        return "min"
    return None


def _shown(token: str) -> str:
    """A token as quoted in a message, cut short: a garbage file may hold one of a million characters."""
    return repr(token) if len(token) <= 40 else repr(token[:37] + "...")


class _Stop(Exception):
    """A problem of the file that makes the rest unreadable (a bad size, the file ending early)."""


class _Tokens:
    """Whitespace-separated tokens of the file, with the line each is on (found only for messages)."""

    def __init__(self, text: str):
        lines = text.splitlines()
        split = [line.split() for line in lines]
        self.items = [tok for toks in split for tok in toks]
        self.line_ends = list(itertools.accumulate(len(toks) for toks in split))
        self.pos = 0

    def line_of(self, k: int) -> int:
        return bisect.bisect_right(self.line_ends, k) + 1

    def left(self) -> int:
        return len(self.items) - self.pos


def _size(tokens: _Tokens, what: str, where: str, problems: list, limit: int) -> int:
    """Read one positive integer (a count); a missing, non-integer or non-positive one stops the parse."""
    if tokens.left() == 0:
        problems.append((where, f"expected the number of {what}, file ends"))
        raise _Stop
    k = tokens.pos
    tok = tokens.items[k]
    tokens.pos += 1
    try:
        value = int(tok)
    except ValueError:
        value = None
    if value is None or value < 1:
        problems.append((where, f"line {tokens.line_of(k)}: expected the number of {what} (a positive integer), "
                         f"got {_shown(tok)}"))
        raise _Stop
    if value > limit:
        problems.append((where, f"line {tokens.line_of(k)}: the number of {what} is {value:,}, more than the limit "
                         f"of {limit:,}"))
        raise _Stop
    return value


def _numbers(tokens: _Tokens, count: int, what: str, detail: str, where: str, problems: list, *,
             label, nonnegative: bool) -> np.ndarray | None:
    """Read ``count`` numbers; ``label(k)`` names the k-th (``profit[2][7]``). None if any is bad."""
    chunk = tokens.items[tokens.pos:tokens.pos + count]
    if len(chunk) < count:
        problems.append((where, f"expected {count} {what}{detail}, file ends after {len(chunk)}"))
        raise _Stop
    start = tokens.pos
    tokens.pos += count
    bad = []
    try:
        values = np.array(chunk, dtype=float)
    except ValueError:  # find the culprits one by one only when the fast path fails
        values = np.zeros(count)
        for k, tok in enumerate(chunk):
            try:
                values[k] = float(tok)
            except ValueError:
                bad.append((k, f"must be a number, got {_shown(tok)}"))
    # float() accepts "nan" and "inf"; data must be finite and within the schema's range.
    for k in np.flatnonzero(~np.isfinite(values) | (np.abs(values) > MAX_VALUE)):
        bad.append((int(k), f"must be a finite number of magnitude at most {MAX_VALUE:g}, got {_shown(chunk[k])}"))
    if nonnegative:
        for k in np.flatnonzero(values < 0):
            bad.append((int(k), f"must be >= 0, got {_shown(chunk[k])}"))
    for k, msg in sorted(bad)[:10]:
        problems.append((where, f"line {tokens.line_of(start + k)}: {label(k)} {msg}"))
    if len(bad) > 10:
        problems.append((where, f"... and {len(bad) - 10} more bad {what}"))
    return None if bad else values


def _plain(values: np.ndarray) -> list:
    """JSON numbers: integers where every value is integral (OR-Library's data are), floats otherwise."""
    if np.all(values == np.round(values)):
        return values.astype(np.int64).tolist()
    return values.tolist()


def parse_orlib(text: str, source: str, sense: str | None = None) -> list[Instance]:
    """Every problem of an OR-Library GAP file, as Instances named ``<file stem>-<problem number>``.

    The format: the number of problems P; per problem the number of agents m and of jobs n, the m x n
    profit (or cost) matrix agent by agent, the m x n resource matrix, the m capacities. ``sense``
    ("max" or "min") overrides the file name's convention (:func:`sense_from_name`); one of them must
    tell. Every problem found is reported as (``problem k``, ``line L: ...``), with the file's name.
    """
    from edgeopt.io import instance_from_data

    if sense is None:
        sense = sense_from_name(source)
    if sense not in ("max", "min"):
        if sense is None:
            msg = ("cannot tell from the file name whether its problems maximise or minimise (OR-Library: gap1 "
                   "to gap12 maximise, gapa to gapd minimise); pass sense 'max' or 'min' (--sense on the "
                   "command line)")
        else:
            msg = f"sense must be 'max' or 'min', got {sense!r}"
        raise InstanceError(source, [("", msg)])
    key = OBJECTIVE_KEY[sense]
    stem = Path(source).stem
    tokens = _Tokens(text)
    problems: list[tuple[str, str]] = []
    out: list[Instance] = []
    with contextlib.suppress(_Stop):  # _Stop ends the reading; its problem is already recorded
        if tokens.left() == 0:
            problems.append(("", "expected the number of problems, the file is empty"))
            raise _Stop
        count = _size(tokens, "problems", "", problems, 10_000)
        for p in range(1, count + 1):
            where = f"problem {p}"
            m = _size(tokens, "agents", where, problems, MAX_AGENTS)
            n = _size(tokens, "jobs", where, problems, MAX_JOBS)
            if m * n > MAX_VARIABLES:
                problems.append((where, f"{m} agents x {n} jobs is a model of {m * n:,} variables, more than the "
                                 f"limit of {MAX_VARIABLES:,}"))
                raise _Stop
            shape = f" ({m} agents x {n} jobs)"
            cell = lambda name: (lambda k: f"{name}[{k // n}][{k % n}]")  # noqa: E731
            before = len(problems)
            weight = _numbers(tokens, m * n, f"{key}s", shape,
                              where, problems, label=cell(key), nonnegative=False)
            resource = _numbers(tokens, m * n, "resource amounts", shape, where, problems, label=cell("resource"),
                                nonnegative=True)
            capacity = _numbers(tokens, m, "capacities", "", where, problems, label=lambda k: f"capacity[{k}]",
                                nonnegative=True)
            if len(problems) > before:
                continue
            doc = {"kind": KIND, "format": 1, "name": f"{stem}-{p}",
                   "description": f"problem {p} of {Path(source).name} (OR-Library generalized assignment format)",
                   "sense": sense, "agents": m, "jobs": n,
                   key: _plain(weight.reshape(m, n)), "resource": _plain(resource.reshape(m, n)),
                   "capacity": _plain(capacity)}
            try:
                out.append(instance_from_data(doc, source))
            except InstanceError as exc:
                problems += [(where, f"{path}: {msg}" if path else msg) for path, msg in exc.problems]
        if tokens.left() and not problems:
            k = tokens.pos
            problems.append((f"line {tokens.line_of(k)}", f"the file declares {count} problem(s) but has more data "
                             f"after the last one, starting with {_shown(tokens.items[k])}"))
    if problems:
        raise InstanceError(source, problems)
    return out


def to_orlib(instances: list[Instance]) -> str:
    """The OR-Library text of ``instances`` (one file; one sense is implied by the file's name)."""
    out = [f" {len(instances)}"]
    for inst in instances:
        out.append(f" {inst.agents} {inst.jobs}")
        d = inst.content
        for rows in (d[inst.objective_key], d["resource"]):
            out += [" " + " ".join(str(v) for v in row) for row in rows]
        out.append(" " + " ".join(str(v) for v in d["capacity"]))
    return "\n".join(out) + "\n"


# -- solution --------------------------------------------------------------------------------------
#: A solution is an assignment: np.ndarray of shape (jobs,), int64, each job's agent or -1.
Solution = np.ndarray


def _as_assignment_or_matrix(inst: Instance, sol) -> np.ndarray:
    a = np.asarray(sol)
    if a.shape == (inst.jobs,) or a.shape == (inst.agents, inst.jobs):
        if a.dtype == bool:
            return a
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError("a gap solution holds integers (agent indices, or a 0/1 matrix)")
        a = a.astype(np.int64)
        if a.ndim == 2 and not np.isin(a, (0, 1)).all():
            raise ValueError("a gap solution matrix x[agent, job] holds only 0 and 1")
        return a
    raise ValueError(f"a gap solution is an assignment of shape ({inst.jobs},) or a 0/1 matrix of shape "
                     f"({inst.agents}, {inst.jobs}); got shape {a.shape}")


def _assignment(inst: Instance, sol) -> np.ndarray:
    """The assignment vector of ``sol``; a matrix must give every job exactly one agent."""
    a = _as_assignment_or_matrix(inst, sol)
    if a.ndim == 1:
        return a
    counts = a.sum(axis=0)
    bad = np.flatnonzero(counts != 1)
    if bad.size:
        j = int(bad[0])
        raise ValueError(f"job {j} is assigned to {int(counts[j])} agents; a solution file holds one agent per job")
    return np.argmax(a, axis=0).astype(np.int64)


def solution_to_data(inst: Instance, sol) -> dict:
    return {"assignment": [int(v) for v in _assignment(inst, sol)]}


def solution_from_data(inst: Instance, data: dict, source: str = "<solution>") -> np.ndarray:
    """Parse the decisions written by :func:`solution_to_data`; every bad entry is reported."""
    a = data["assignment"]
    problems = []
    if len(a) != inst.jobs:
        problems.append(("decisions.assignment", f"must have one agent per job ({inst.jobs}), got {len(a)}"))
    for j, v in enumerate(a):
        if v >= inst.agents:
            problems.append((f"decisions.assignment[{j}]", f"no agent {v}: this instance has agents 0 to "
                             f"{inst.agents - 1} (-1 leaves the job unassigned)"))
    if problems:
        raise InstanceError(source, problems)
    return np.array(a, dtype=np.int64)


# -- evaluator -------------------------------------------------------------------------------------
def evaluate(inst: Instance, sol) -> Evaluation:
    """Objective and every violation, from the assignment (or the 0/1 matrix) alone.

    Violations: a job with no agent, a job with several (matrix form only), an agent index that does
    not exist (the job counts as unassigned), an agent over its capacity (by more than TOL relative).
    """
    a = _as_assignment_or_matrix(inst, sol)
    m, n = inst.agents, inst.jobs
    viol: list[Violation] = []
    if a.ndim == 2:
        x = a.astype(bool)
        counts = x.sum(axis=0)
        for j in np.flatnonzero(counts > 1):
            agents = ", ".join(map(str, np.flatnonzero(x[:, j])))
            viol.append(Violation("assignment", f"job {j}", float(counts[j] - 1),
                                  f"assigned to {counts[j]} agents ({agents}); every job goes to exactly one"))
    else:
        unknown = (a < -1) | (a >= m)
        for j in np.flatnonzero(unknown):
            viol.append(Violation("agent_index", f"job {j}", 1.0,
                                  f"agent {a[j]} does not exist (agents 0 to {m - 1}, -1 for none)"))
        x = np.zeros((m, n), dtype=bool)
        ok = np.flatnonzero(~unknown & (a >= 0))
        x[a[ok], ok] = True
        counts = x.sum(axis=0)
    for j in np.flatnonzero(counts == 0):
        viol.append(Violation("assignment", f"job {j}", 1.0, "unassigned; every job goes to exactly one agent"))
    used = np.where(x, inst.resource, 0.0).sum(axis=1)
    over = used - inst.capacity
    for i in np.flatnonzero(over > TOL * np.maximum(1.0, np.abs(inst.capacity))):
        viol.append(Violation("capacity", f"agent {i}", float(over[i]),
                              f"uses {used[i]:g} of its capacity {inst.capacity[i]:g}"))
    objective = float(np.where(x, inst.weight, 0.0).sum())
    return Evaluation(objective, {inst.objective_key: objective}, tuple(viol))


# -- feasibility pre-check -------------------------------------------------------------------------
def infeasibility_reason(inst: Instance) -> str | None:
    """A readable reason why no assignment is feasible, found without solving; None if none is found.

    Two proofs: a job whose resource exceeds the capacity of every agent, and jobs whose smallest
    resource needs add up to more than all capacities together.
    """
    slack = TOL * np.maximum(1.0, np.abs(inst.capacity))
    fits = inst.resource <= (inst.capacity + slack)[:, None]
    nowhere = np.flatnonzero(~fits.any(axis=0))
    if nowhere.size:
        j = int(nowhere[0])
        excess = inst.resource[:, j] - inst.capacity
        i = int(np.argmin(excess))
        more = f" ({nowhere.size} such jobs in all)" if nowhere.size > 1 else ""
        return (f"job {j} fits no agent: its resource need exceeds the capacity of every agent (closest: agent {i}, "
                f"need {inst.resource[i, j]:g} > capacity {inst.capacity[i]:g}){more}")
    least = float(inst.resource.min(axis=0).sum())
    total = float(inst.capacity.sum())
    if least > total + float(slack.sum()):
        return (f"the jobs need at least {least:g} units of resource (each at its least demanding agent), more than "
                f"the {total:g} all agents have together")
    return None


# -- the MILP --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Formulation:
    """The built model and the block of x[agent, job], to turn a solution vector into an assignment."""

    model: Model
    blocks: dict[str, VarBlock]

    def decode(self, values: np.ndarray) -> np.ndarray:
        """The assignment of a solution vector; if some job has not exactly one agent, the 0/1 matrix
        (so that the evaluator names the job instead of this function hiding it)."""
        x = np.round(np.asarray(values)[self.blocks["assign"].ids]) > 0.5
        if np.all(x.sum(axis=0) == 1):
            return np.argmax(x, axis=0).astype(np.int64)
        return x

    def encode(self, sol) -> np.ndarray:
        """The solution vector of an assignment (unassigned jobs have no 1), for warm starts."""
        ids = self.blocks["assign"].ids
        a = np.asarray(sol, dtype=np.int64)
        x = np.zeros(self.model.num_cols)
        j = np.flatnonzero(a >= 0)
        x[ids[a[j], j]] = 1.0
        return x


def formulate(inst: Instance) -> Formulation:
    """The GAP as a MILP (docs/gap.md), built from whole arrays."""
    m, n = inst.agents, inst.jobs
    mdl = Model(f"gap:{inst.name}", sense=inst.sense)
    x = mdl.add_variables("assign", (m, n), ub=1, integer=True)
    mdl.add_objective(x, inst.weight)
    rows = mdl.add_rows("one_agent", (n,), lo=1, hi=1)
    mdl.add_terms(rows.ids[None, :], x, 1.0)
    rows = mdl.add_rows("capacity", (m,), hi=inst.capacity)
    mdl.add_terms(rows.ids[:, None], x, inst.resource, where=inst.resource != 0)
    return Formulation(mdl, {"assign": x})


# -- generator -------------------------------------------------------------------------------------
#: Instance types of Chu & Beasley (1997) and Yagiura et al. (types A-D, the gapa-gapd sets).
TYPES = ("A", "B", "C", "D")


def generate(*, agents: int = 5, jobs: int = 15, type: str = "C", sense: str = "min", seed: int = 0,
             name: str | None = None) -> Instance:
    """A seeded, deterministic GAP instance of Yagiura's type A, B, C or D (integer data).

    Types A-C: resource r ~ U{5..25}, value ~ U{10..50}. Type D: r ~ U{1..100}, value = 111 - r + U{-10..10}
    (large jobs are cheap: hard for minimisation). Capacities: type A, for every agent,
    9 n/m + 0.4 max_i (resource of the jobs whose best value is at agent i); type B, 70% of type A;
    types C and D, 0.8 sum_j r_ij / m. The value matrix is the cost (sense "min", as in gapa-gapd)
    or the profit (sense "max").
    """
    if agents < 1 or jobs < 1:
        raise ValueError(f"agents and jobs must be at least 1, got {agents} and {jobs}")
    if type not in TYPES:
        raise ValueError(f"type must be one of {', '.join(TYPES)}, got {type!r}")
    if sense not in ("max", "min"):
        raise ValueError(f"sense must be 'max' or 'min', got {sense!r}")
    m, n = agents, jobs
    rng = np.random.default_rng(seed)
    if type == "D":
        resource = rng.integers(1, 101, size=(m, n))
        value = 111 - resource + rng.integers(-10, 11, size=(m, n))
    else:
        resource = rng.integers(5, 26, size=(m, n))
        value = rng.integers(10, 51, size=(m, n))
    if type in ("A", "B"):
        best = np.argmin(value, axis=0) if sense == "min" else np.argmax(value, axis=0)
        per_agent = np.bincount(best, weights=resource[best, np.arange(n)], minlength=m)
        cap = 9 * n / m + 0.4 * per_agent.max()
        capacity = np.full(m, np.floor(cap * (0.7 if type == "B" else 1.0)))
    else:
        capacity = np.floor(0.8 * resource.sum(axis=1) / m)
    key = OBJECTIVE_KEY[sense]
    data = {
        "kind": KIND, "format": 1, "name": name or f"gap-{type}{'max' if sense == 'max' else 'min'}-{m}x{n}-s{seed}",
        "description": f"generated by edgeopt.models.gap.generate(agents={m}, jobs={n}, type={type!r}, "
                       f"sense={sense!r}, seed={seed})",
        "source": "type definitions: Chu & Beasley (1997), Yagiura, Ibaraki & Glover (2004)",
        "sense": sense, "agents": m, "jobs": n,
        key: value.astype(np.int64).tolist(), "resource": resource.astype(np.int64).tolist(),
        "capacity": capacity.astype(np.int64).tolist(),
    }
    from edgeopt.io import instance_from_data

    return instance_from_data(data, source="<generated>")
