"""MAPPO and IPPO for the serving family, on the learning machinery every learned solver shares (edgeopt/rl.py:
the order-invariant option scorer, GAE, the PPO update, the policy file): this file supplies the serving
moves (board.py), their critic input, the rollouts over whole episodes, the scenario space the policies train
on, validation, and the family's two solvers ``mappo`` and ``ippo``.

**Acting.** In every slot, under the information rule (solvers/online.py's ``run_online``: the policy sees
the state, the slot's requests and what it remembers of earlier slots), every edge first holds its models
or loads one, then the requests of each cell take turns (board.py); each mover takes its allowed row of
the highest score. The actor is one network for edges and users (a row's first feature says which kind of
agent scores it).

**Learning.** A cell's moves over an episode form one trajectory; a move's reward is the exact change of
its cell's slot objective (board.py), the backlog a cell carries into a slot is charged to its last move
of the slot before, and GAE runs along the trajectory with ``gamma`` applied at each slot boundary (moves
within a slot are not discounted against each other). With ``gamma > 0`` a move that leaves backlog sees
what that backlog costs in later slots; that is what the per-slot (myopic) methods cannot see. MAPPO's
critic sees the cell's global state (``STATE_FIELDS``) beside the mover's context and rows; IPPO's only the
mover's context and rows.

**Training data**: episodes drawn from :class:`Scenarios` (seeded): generated serving instances with
arrivals from the *fitted* processes (Poisson and the two MMPPs fitted to the Azure traces; never the
traces themselves, whose windows the benchmark holds out), random GPUs, weights, cloud, sizes and horizons.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeopt import rl
from edgeopt.families.serving.board import (
    CONTEXT,
    LAYOUT,
    ROW_FIELDS,
    ROW_INPUT,
    STATE,
    Memory,
    Move,
    SlotPlay,
)
from edgeopt.families.serving.solvers.exact import online_result
from edgeopt.families.serving.solvers.online import View, run_online
from edgeopt.registry import register_solver
from edgeopt.rl import MAPPOConfig, Policy
from edgeopt.solver import Options, Solver, deadline

POLICIES = Path(__file__).resolve().parents[3] / "data" / "policies"
FAMILY = "serving"
_R = len(ROW_FIELDS)


def critic_input_size(cfg: MAPPOConfig) -> int:
    return (STATE if cfg.use_centralized_V else 0) + CONTEXT + 2 * _R


#: What a serving policy file holds (edgeopt/rl.py reads and writes it).
KIND = rl.PolicyKind(FAMILY, LAYOUT, ROW_INPUT, critic_input_size)


def make_networks(cfg: MAPPOConfig):
    return KIND.networks(cfg)


def load_policy(path) -> Policy:
    return rl.load_policy(path, KIND)


def critic_features(move: Move, centralised: bool) -> np.ndarray:
    """(B, critic input): [the mover's cell's state,] its context, the maximum of its allowed rows' features
    and the features of its best allowed row by exact reward."""
    B = move.cell.size
    feats = move.features[:, :_R]
    top = np.full((B, _R), -np.inf, np.float32)
    np.maximum.at(top, move.mover[move.allowed], feats[move.allowed])
    best = rl.first_best(np.where(move.allowed, move.delta, -np.inf), move.mover, B)
    parts = [move.context, top, feats[best]]
    if centralised:
        parts.insert(0, move.state)
    return np.concatenate(parts, axis=1).astype(np.float32)


def _tensors(move: Move):
    import torch

    return torch.from_numpy(move.features), torch.from_numpy(move.mover), torch.from_numpy(move.allowed)


class Greedy:
    """An online decision rule (``decide(view)``) from an actor's greedy rows (its forward pass in numpy,
    edgeopt.rl.NumpyScorer); one per episode (it remembers the earlier slots)."""

    def __init__(self, actor):
        self.scorer = actor if isinstance(actor, rl.NumpyScorer) else rl.NumpyScorer(actor)
        self.memory = Memory()

    def __call__(self, view: View):
        play = SlotPlay(view, self.memory)
        play.with_state = False
        while not play.done:
            move = play.rows()
            play.apply(move, self.scorer.greedy_rows(move.features, move.mover, move.allowed, move.cell.size))
        play.remember()
        return play.decision()


# -- training ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenarios:
    """The space of generated episodes a serving policy trains on (every draw seeded): ``edges`` cells of
    ``users`` users each over ``slots`` slots, arrivals from one of ``arrivals`` (fitted processes only), each edge's GPU
    from ``gpus``, the weights log-uniform in their ranges, the cloud with probability ``cloud``."""

    users: tuple = (3, 12)  # per cell
    edges: tuple = (1, 4)
    slots: tuple = (10, 30)
    arrivals: tuple = ("poisson", "mmpp-code", "mmpp-conv")
    request_rate: tuple = (0.1, 0.8)
    diurnal_amplitude: tuple = (0.0, 0.5)
    gpus: tuple = ("RTX 4090", "RTX 4090", "A100", "Jetson AGX Orin")
    delay_per_second: tuple = (0.01, 0.5)
    loading_per_second: tuple = (0.02, 2.0)
    refusal_penalty: tuple = (20.0, 200.0)
    cloud: float = 0.5

    WHOLE = ("users", "edges", "slots")
    POSITIVE = ("delay_per_second", "loading_per_second")  # drawn log-uniform

    def __post_init__(self) -> None:
        for name in ("users", "edges", "slots", "request_rate", "diurnal_amplitude", "delay_per_second",
                     "loading_per_second", "refusal_penalty"):
            lo_hi = getattr(self, name)
            if (not isinstance(lo_hi, tuple) or len(lo_hi) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in lo_hi)):
                raise ValueError(f"scenarios {name}: expected two finite numbers (low, high), got {lo_hi!r}")
            lo, hi = lo_hi
            if lo > hi:
                raise ValueError(f"scenarios {name}: low {lo!r} is above high {hi!r}")
            if name in self.WHOLE and (lo != int(lo) or hi != int(hi) or lo < 1):
                raise ValueError(f"scenarios {name}: expected whole numbers >= 1, got {lo_hi!r}")
            if name in self.POSITIVE and lo <= 0:
                raise ValueError(f"scenarios {name}: expected positive numbers (drawn log-uniform), got {lo_hi!r}")
            if name in ("request_rate", "diurnal_amplitude") and not 0 <= lo <= hi <= 1:
                raise ValueError(f"scenarios {name}: expected numbers between 0 and 1, got {lo_hi!r}")
            if name == "refusal_penalty" and lo < 0:
                raise ValueError(f"scenarios {name}: expected numbers >= 0, got {lo_hi!r}")
        if self.users[1] > 500 or self.edges[1] > 16 or self.slots[1] > 200:
            raise ValueError("scenarios: at most 500 users per cell, 16 edges and 200 slots per episode")
        if not (isinstance(self.cloud, (int, float)) and 0 <= self.cloud <= 1):
            raise ValueError(f"scenarios cloud: expected a probability between 0 and 1, got {self.cloud!r}")
        if not self.arrivals or any(a not in ("poisson", "mmpp-code", "mmpp-conv", "trace-code", "trace-conv")
                                    for a in self.arrivals):
            raise ValueError(f"scenarios arrivals: expected some of poisson, mmpp-code, mmpp-conv, trace-code, "
                             f"trace-conv, got {self.arrivals!r}")
        if not self.gpus:
            raise ValueError("scenarios gpus: expected at least one GPU kind")

    def draw(self, rng: np.random.Generator):
        from edgeopt.families.serving.generate import generate

        def logu(lo, hi):
            return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

        edges = int(rng.integers(self.edges[0], self.edges[1] + 1))
        return generate(
            users=int(rng.integers(self.users[0], self.users[1] + 1)) * edges,
            edges=edges, slots=int(rng.integers(self.slots[0], self.slots[1] + 1)),
            arrivals=str(rng.choice(self.arrivals)), request_rate=float(rng.uniform(*self.request_rate)),
            diurnal_amplitude=float(rng.uniform(*self.diurnal_amplitude)), start_hour=float(rng.uniform(0, 24)),
            edge_gpus=[str(g) for g in rng.choice(self.gpus, size=edges)], cloud=bool(rng.random() < self.cloud),
            delay_per_second=logu(*self.delay_per_second), loading_per_second=logu(*self.loading_per_second),
            refusal_penalty=float(rng.uniform(*self.refusal_penalty)), seed=int(rng.integers(0, 2 ** 31 - 1)))


#: Validation episodes' seeds start here (training draws its generator seeds below 2**31 - 1).
VALIDATION_SEED = 2 ** 31
VALIDATION_EPISODES = 6
VALIDATION_COLUMNS = ("validation_gain_over_myopic", "validation_gain_over_lru", "validation_gain_over_forward")
CURVE_COLUMNS = (*rl.CURVE_HEAD, *VALIDATION_COLUMNS)


@dataclass(frozen=True)
class TrainReport:
    policy: Path
    curve_csv: Path
    curve_png: Path
    header: dict
    decisions: int
    updates: int
    seconds: float
    final_validation_gain: float | None  # over myopic, objective points per request, on the validation episodes


def _collect_episode(cfg: MAPPOConfig, inst, actor, critic, gen, out: dict, traj_base: int) -> tuple:
    """Play one episode with sampled rows, appending every move to ``out`` (the trajectories are the cells,
    numbered from ``traj_base``); returns the plan played (``run_online``'s choices and loaded models) and the
    episode's unit."""
    import torch

    memory = Memory()
    last_of_cell: dict[int, int] = {}  # the batch index of each cell's last move so far
    slot = [0]

    def decide(view: View):
        play = SlotPlay(view, memory)
        for c, cost in enumerate(play.start_cost):
            if c in last_of_cell and cost != 0.0:
                out["reward"][last_of_cell[c]] += float(cost) / play.unit
        while not play.done:
            move = play.rows()
            cin = rl_critic(move)
            with torch.no_grad():
                logp_rows = rl.log_policy(actor, *_tensors(move), move.cell.size).numpy().astype(np.float64)
                value = critic(torch.from_numpy(cin)).squeeze(1).numpy()
            picked = rl.sample_rows(logp_rows, move.mover, move.cell.size, gen)
            expert = rl.first_best(np.where(move.allowed, move.forward, -np.inf), move.mover, move.cell.size)
            phi = play.potential(move.cell)
            starts = np.searchsorted(move.mover, np.arange(move.cell.size))
            rewards = play.apply(move, picked)
            counts = np.bincount(move.mover, minlength=move.cell.size)
            for b in range(move.cell.size):
                rows = slice(starts[b], starts[b] + counts[b])
                out["features"].append(move.features[rows])
                out["allowed"].append(move.allowed[rows])
                out["counts"].append(int(counts[b]))
                out["action"].append(int(picked[b] - starts[b]))
                out["expert"].append(int(expert[b] - starts[b]))
                out["logp"].append(float(logp_rows[picked[b]]))
                out["value"].append(float(value[b]))
                out["reward"].append(float(rewards[b]))
                out["cin"].append(cin[b])
                out["traj"].append(traj_base + int(move.cell[b]))
                out["slot"].append(slot[0])
                out["phi"].append(float(phi[b]))
                last_of_cell[int(move.cell[b])] = len(out["reward"]) - 1
        play.remember()
        slot[0] += 1
        return play.decision()

    def rl_critic(move):
        return critic_features(move, cfg.use_centralized_V)

    chosen, loaded, _ = run_online(inst, decide)
    return chosen, loaded, (memory.unit if memory.unit is not None else 1.0)


def _collect(cfg: MAPPOConfig, episodes: list, actor, critic, gen) -> dict:
    out: dict[str, list] = {k: [] for k in ("features", "allowed", "counts", "action", "logp", "value", "reward",
                                            "cin", "traj", "slot", "phi", "expert")}
    base = 0
    for inst in episodes:
        _collect_episode(cfg, inst, actor, critic, gen, out, base)
        base += inst.num_edges
    data = {"features": np.concatenate(out["features"]).astype(np.float32),
            "allowed": np.concatenate(out["allowed"]).astype(bool),
            "counts": np.asarray(out["counts"], dtype=np.int64), "action": np.asarray(out["action"], dtype=np.int64),
            "expert": np.asarray(out["expert"], dtype=np.int64),
            "logp": np.asarray(out["logp"], dtype=np.float32), "value": np.asarray(out["value"], dtype=np.float32),
            "reward": np.asarray(out["reward"], dtype=np.float32), "cin": np.stack(out["cin"]).astype(np.float32)}
    traj, slot = np.asarray(out["traj"]), np.asarray(out["slot"])
    data["next"] = rl.next_of(traj)
    nxt = data["next"]
    data["discount"] = np.where((nxt >= 0) & (slot[np.maximum(nxt, 0)] > slot), cfg.gamma, 1.0)
    if cfg.reward == "shaped":  # potential-based: r + discount x phi(next state) - phi(state); phi = 0 at the end
        phi = np.asarray(out["phi"])
        following = np.where(nxt >= 0, phi[np.maximum(nxt, 0)], 0.0)
        data["reward"] = (data["reward"] + data["discount"] * following - phi).astype(np.float32)
    return data


class _Episodes:
    def __init__(self, instances: Sequence, scenarios: Scenarios, seed: int):
        self.instances, self.scenarios = list(instances), scenarios
        self.rng = np.random.default_rng(seed)
        self.next = 0

    def batch(self, decisions: int) -> list:
        out, expected = [], 0
        while expected < decisions:
            if self.instances:
                inst = self.instances[self.next % len(self.instances)]
                self.next += 1
            else:
                inst = self.scenarios.draw(self.rng)
            out.append(inst)
            expected += int(inst.requested.sum()) + inst.num_edges * inst.slots
        return out


def train(instances: Sequence = (), *, scenarios: Scenarios | None = None, steps: int = 200_000, seed: int = 1,
          output="serving-mappo.pt", independent_critic: bool = False, hyperparameters: dict | None = None,
          imitation: int = 0, progress: bool = True) -> TrainReport:
    """Train a MAPPO (or, with ``independent_critic``, IPPO) serving policy and write it with its learning
    curve (``edgeopt train serving``; arguments as the offloading trainer's, with ``scenarios`` for the
    episode space). ``steps`` counts moves (decisions), rounded up to whole updates of ``batch_decisions``.
    Every ``eval_interval`` updates the greedy policy's mean gain over ``myopic``, ``lru-greedy`` and
    ``forward-greedy`` (objective points per request; positive: better) on validation episodes the training
    never draws goes into the learning curve."""
    from edgeopt.families.serving.solvers.exact import Myopic
    from edgeopt.families.serving.solvers.heuristics import ForwardGreedy, LRUGreedy
    from edgeopt.io import load

    overrides = {"gamma": 0.95, "sweeps": 1, "reward": "shaped", **(hyperparameters or {})}
    cfg = rl.make_config(independent_critic, **overrides)
    if cfg.reward not in ("change", "shaped"):
        raise ValueError("hyperparameter reward: the serving policies learn from the exact change of the objective "
                         f"('change'), or that change shaped by the backlog's potential ('shaped'), got {cfg.reward!r}")
    scenarios = Scenarios() if scenarios is None else scenarios
    rl.check_steps(steps)
    loaded = [load(p) if isinstance(p, (str, os.PathLike)) else p for p in instances]
    for inst in loaded:
        if getattr(inst, "kind", None) != FAMILY:
            raise ValueError(f"{getattr(inst, 'name', inst)!r} is not a serving instance")
    output, curve_csv, curve_png = rl.curve_paths(output)
    updates = max(1, math.ceil(steps / cfg.batch_decisions))
    if isinstance(imitation, bool) or not isinstance(imitation, int) or not 0 <= imitation <= updates:
        raise ValueError(f"imitation must be a whole number of updates between 0 and {updates} (all of them), got "
                         f"{imitation!r}")
    training = {"seed": int(seed), "steps": int(steps), "updates": updates, "imitation_updates": imitation,
                "instances": [{"name": i.name, "hash": i.hash} for i in loaded],
                "scenarios": None if loaded else {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in asdict(scenarios).items()}}
    vrng = np.random.default_rng(VALIDATION_SEED + int(seed))
    validation = loaded[:VALIDATION_EPISODES] if loaded else [scenarios.draw(vrng) for _ in range(VALIDATION_EPISODES)]
    references = [(Myopic().solve(i, seed=0).objective, LRUGreedy().solve(i).objective, ForwardGreedy().solve(i).objective,
                   max(float(i.requested.sum()), 1.0)) for i in validation]
    episodes = _Episodes(loaded, scenarios, int(seed))

    def collect(actor, critic, gen):
        return _collect(cfg, episodes.batch(cfg.batch_decisions), actor, critic, gen)

    def validate(actor):
        gains = []
        for inst, (*others, requests) in zip(validation, references):
            mine = greedy_objective(actor, inst)
            gains.append([(mine - other) / requests for other in others])
        means = [float(v) for v in np.mean(gains, axis=0)]
        return means[0], tuple(means)

    started = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    with rl.deterministic(seed):
        try:
            actor, critic, value_norm, decisions, last = rl.train_loop(
                cfg, networks=make_networks(cfg), collect=collect, validate=validate,
                validation_columns=VALIDATION_COLUMNS, updates=updates, seed=int(seed), curve_csv=curve_csv,
                progress=progress, started=started, label=FAMILY, imitation=imitation)
        except BaseException:  # an interruption: no half-written learning curve
            curve_csv.unlink(missing_ok=True)
            raise
        training["decisions"] = decisions
        header = rl.save_policy(output, KIND, actor=actor, critic=critic, value_norm=value_norm, cfg=cfg,
                                training=training)
    rl.plot_curve(curve_csv, curve_png, f"serving {header['algorithm']}",
                  {"validation_gain_over_myopic": "over myopic", "validation_gain_over_lru": "over lru-greedy",
                   "validation_gain_over_forward": "over forward-greedy"},
                  "greedy policy's gain, points per request", symlog=False, scale=1.0)
    return TrainReport(output, curve_csv, curve_png, header, decisions, updates, time.perf_counter() - started, last)


def greedy_objective(actor, inst) -> float:
    """The evaluator's objective of the actor's greedy play of ``inst``."""
    from edgeopt.families.serving.evaluate import evaluate
    from edgeopt.families.serving.solvers.exact import assemble

    chosen, loaded, _ = run_online(inst, Greedy(actor))
    return evaluate(inst, assemble(inst, chosen, loaded)).objective


# -- the solvers --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyOptions(Options):
    policy: str | None = None  # a policy file; None: the one shipped with edgeopt


class _PolicySolver(Solver):
    family, Options = "serving", PolicyOptions
    requires = ("torch",)
    shipped = ""
    algorithm = ""

    @classmethod
    def default_policy(cls) -> Path:
        return POLICIES / cls.shipped

    def run(self, instance, options, *, time_limit, seed, started):
        policy = rl.solver_policy(self.name, self.algorithm, options.policy, self.default_policy(), KIND,
                                  "benchmarks/papers/train_serving_policy.py")
        result = online_result(self, instance, Greedy(policy.actor), f"{policy.algorithm} policy's greedy rows",
                               started=started, until=deadline(started, time_limit))
        result.extra.update(policy=policy.path, policy_hash=policy.header["content_hash"], algorithm=policy.algorithm)
        return result


@register_solver
class ServingMAPPO(_PolicySolver):
    """Online: a MAPPO policy (edges and users score their option rows with one shared set scorer, centralised
    critic, trained over generated episodes with gamma > 0); no training at solve time."""

    name, shipped, algorithm = "mappo", "serving-mappo.pt", "mappo"


@register_solver
class ServingIPPO(_PolicySolver):
    """Online: an IPPO policy (the same scorer, each agent's critic on its own view); no training at solve
    time."""

    name, shipped, algorithm = "ippo", "serving-ippo.pt", "ippo"


__all__ = ["KIND", "Greedy", "Scenarios", "ServingIPPO", "ServingMAPPO", "TrainReport", "critic_features",
           "greedy_objective", "load_policy", "make_networks", "train"]
