"""MAPPO for the offloading family: its rollouts, rewards, training and the two solvers that use a trained
policy (``mappo`` and ``ippo``). The machinery every learned solver shares (hyperparameters, the set scorer,
value normalisation, GAE, the PPO update, the training loop and the policy file) is edgeopt/rl.py; this file
supplies the offloading family's rows (observation.py), critic input, rollouts and validation.

**What acts.** One agent per user; in a slot the users of a cell take turns (observation.py: a first sweep
places every request, later sweeps revise; cells proceed side by side). A mover scores its own option rows
(refuse, then each configuration x place it can use, in canonical order) with one network shared by all
agents: every row's features (its value against the others' current choices, its per-resource costs and
pressures, its place, memory, loading, ...) and the mover's context go through an MLP; the rows' embeddings
are max-pooled over the mover's rows and each row is scored from its embedding and that pool (a permutation-
invariant set scorer, so the order of the rows changes nothing and any number of rows is taken); the scores
are the logits of a categorical distribution over the allowed rows. Logits are clamped to +-``LOGIT_BOUND``
before the softmax, so every allowed row keeps a positive probability; the decision is the row of the
highest logit (the first in canonical order on a tie).

**Critic.** MAPPO's centralised critic sees the mover's problem's global state (``Board.state``) beside the
mover's context and a summary of its rows (their features' maximum, and the features of its best row by
value); ``independent_critic=True`` gives IPPO, whose critic sees only the mover's context and row summary.

**Reward and returns.** ``reward="change"`` (the default): a move's reward is the exact change of the slot's
objective it makes (optimal shares), in units of the problem (observation.py), so the rewards of a slot sum
to its objective. ``reward="regret"`` (with gamma 0 only): minus the move's shortfall from the mover's best
row by value, over the gap between its best and second-best rows (0 for the best, -1 for the second, at
most -10): the same ranking of a turn's rows, so with gamma 0 (each turn judged alone) the same best
policy, but a close call weighs as much as a clear one. GAE runs along each agent's own turns in the slot
(``gamma``, ``gae_lambda``); an agent's last turn ends its trajectory.

The update is that of the reference implementation, marlbenchmark/on-policy (Yu et al., "The Surprising
Effectiveness of PPO in Cooperative Multi-Agent Games", NeurIPS 2022), algorithm ``mappo``, with the
defaults of its ``onpolicy/config.py`` where they apply (:class:`MAPPOConfig`): value normalisation
(ValueNorm), advantages normalised over the batch, PPO clip 0.2, clipped Huber value loss, entropy 0.01,
orthogonal initialisation, gradient clipping at 10, Adam (lr 5e-4, eps 1e-5), LayerNorm on the inputs.

**Training data.** Problems (slots) drawn from the scenario space of scenarios.py (random catalogue subsets
and orders, weights, cloud, GPUs, radii, bands, cells and users per cell) or from given instance files; every
update collects about ``batch_decisions`` turns on a fresh batch of problems with sampled actions.

Everything random is seeded from ``seed`` and training runs on one CPU thread with
``torch.use_deterministic_algorithms(True)``: the same seed gives the same policy file, bit for bit, on one
machine. torch is imported inside the functions that need it: ``import edgeopt`` does not load it.

**Policy file** (``torch.save``, read back with ``torch.load(..., weights_only=True)``): only tensors (the
actor's and critic's state dicts, the value normaliser's statistics) and a JSON header (family, algorithm,
the layout of rows, context and state, the hyperparameters, the training data, the sha256 of the content).
A policy of another family or layout is refused with a ValueError that names what differs; so is a file
whose header or tensors are not what edgeopt writes, before any network is built from it.

**Solvers** ``mappo`` and ``ippo``: every slot of the instance played turn by turn with the policy's greedy
rows (``sweeps`` sweeps, stopping early when a sweep changes nothing); then the models the edge users need
are loaded and the resources shared by ``allocation`` (the heuristics' stage two). No training at solve time.
Each takes only a policy trained by its own algorithm.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edgeopt import rl
from edgeopt.families.offloading.observation import (
    CONTEXT,
    LAYOUT,
    ROW_FIELDS,
    ROW_INPUT,
    STATE,
    SWEEPS,
    Board,
)
from edgeopt.families.offloading.solvers.heuristics import _past, _result
from edgeopt.registry import register_solver
from edgeopt.result import relative_gap
from edgeopt.rl import (
    LIMITS,
    LOGIT_BOUND,
    MAX_POLICY_BYTES,  # noqa: F401  (re-exported: the largest policy file read)
    MAPPOConfig,
    Policy,
    ValueNorm,
    first_best,
    greedy_rows,
    log_policy,
    make_config,
)
from edgeopt.solver import Options, Solver, deadline, option

POLICIES = Path(__file__).resolve().parents[3] / "data" / "policies"
FAMILY = "offloading"
_R = len(ROW_FIELDS)
_tensors = rl.tensors


def critic_input_size(cfg: MAPPOConfig) -> int:
    return (STATE if cfg.use_centralized_V else 0) + CONTEXT + 2 * _R


def _legacy(header: dict) -> str | None:
    layout = header.get("layout")
    version = layout.get("version") if isinstance(layout, dict) else None
    if header.get("format_version") == 1 or version == 1:
        return ("it was written for edgeopt's first policy layout (a fixed action slot per configuration of the "
                "instance's list), which this edgeopt no longer has: its policies score each option from the "
                "option's own features; train a new one with `edgeopt train offloading` (docs/solvers.md)")
    return None


#: What an offloading policy file holds (edgeopt/rl.py reads and writes it).
KIND = rl.PolicyKind(FAMILY, LAYOUT, ROW_INPUT, critic_input_size, _legacy)


def make_networks(cfg: MAPPOConfig):
    """(actor, critic) for the offloading rows: the actor scores flat rows (edgeopt.rl's ``Scorer``), the
    critic maps its input (B, critic_input_size) to a value."""
    return KIND.networks(cfg)


def load_policy(path) -> Policy:
    """Read an offloading policy file (edgeopt.rl.load_policy)."""
    return rl.load_policy(path, KIND)


def cached_policy(path) -> Policy:
    return rl.cached_policy(path, KIND)


def save_policy(path, **kwargs) -> dict:
    return rl.save_policy(path, KIND, **kwargs)


# -- from the board to tensors -------------------------------------------------------------------------------
def critic_features(board: Board, movers: np.ndarray, rows: dict, centralised: bool) -> np.ndarray:
    """(B, critic input) the mover's problem's state (MAPPO only), its context, the maximum of its allowed
    rows' features and the features of its best allowed row by value."""
    B = movers.size
    feats = rows["features"][:, :_R]
    allowed = rows["allowed"]
    top = np.full((B, _R), -np.inf, np.float32)
    np.maximum.at(top, rows["mover"][allowed], feats[allowed])
    first = first_best(np.where(allowed, rows["q"], -np.inf), rows["mover"], B)
    parts = [rows["context"].astype(np.float32), top, feats[first]]
    if centralised:
        parts.insert(0, board.state(board.p_problem[movers]))
    return np.concatenate(parts, axis=1).astype(np.float32)


# -- acting ------------------------------------------------------------------------------------------------
def play(actor, board: Board, stop: float | None = None) -> bool:
    """Play the board to its end with the actor's greedy rows; False when ``stop`` came first (the moves made
    so far stand; users not yet placed stay refused)."""
    with rl.single_thread():
        while not board.done:
            if _past(stop):
                return False
            movers = board.movers()
            rows = board.rows(movers)
            pick = greedy_rows(actor, *_tensors(rows), movers.size)
            board.apply(movers, rows["option"][pick])
    return True


def greedy_choices(actor, inst, stop: float | None = None, sweeps: int = SWEEPS) -> tuple[list[np.ndarray], bool]:
    """Every slot's choices (per requesting user an index into ``inst.options(t)``, -1 refused) under the
    actor's greedy rows, and whether the play ended before ``stop``."""
    board = Board([(inst, t) for t in range(inst.slots)], sweeps=sweeps)
    finished = play(actor, board, stop)
    return board.choices(), finished


# -- training ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainReport:
    """What :func:`train` wrote and measured."""

    policy: Path
    curve_csv: Path
    curve_png: Path
    header: dict
    decisions: int
    updates: int
    seconds: float
    final_validation_gap: float | None  # relative to offload-ls, on the validation instances


#: The validation columns of the learning curve.
VALIDATION_COLUMNS = ("validation_gap_to_ls", "validation_gap_to_greedy", "validation_loss_per_request")
CURVE_COLUMNS = (*rl.CURVE_HEAD, *VALIDATION_COLUMNS)
#: Generator seeds of validation scenarios start here (training draws its seeds below 2**31 - 1).
VALIDATION_SEED = 2 ** 31
VALIDATION_SCENARIOS = 12


class _Source:
    """Where the training's problems come from: instance files (their slots in turn), or the scenario space
    of scenarios.py (fresh instances, seeded)."""

    def __init__(self, instances: Sequence, ranges, seed: int):
        self.instances, self.ranges = list(instances), ranges
        self.rng = np.random.default_rng(seed)
        self.next = 0

    def batch(self, decisions: int, sweeps: int) -> list:
        from edgeopt.families.offloading.scenarios import sample

        problems, expected = [], 0
        while expected < decisions:
            if self.instances:
                inst = self.instances[self.next % len(self.instances)]
                self.next += 1
            else:
                inst = sample(self.rng, self.ranges)
            problems += [(inst, t) for t in range(inst.slots)]
            expected += int(inst.requested.sum()) * sweeps
        return problems


def _validation(instances: Sequence, ranges, seed: int) -> list:
    """Instances the training never draws (scenario seeds from 2**31 up), or the training instances."""
    from edgeopt.families.offloading.scenarios import sample

    if instances:
        return list(instances)[:VALIDATION_SCENARIOS]
    rng = np.random.default_rng(VALIDATION_SEED + seed)
    return [sample(rng, ranges) for _ in range(VALIDATION_SCENARIOS)]


def _objective(inst, chosen) -> float:
    from edgeopt.families.offloading.plans import slot_value

    return float(sum(slot_value(inst.options(t), c) for t, c in enumerate(chosen)))


def train(instances: Sequence = (), *, ranges=None, steps: int = 200_000, seed: int = 1,
          output="offloading-mappo.pt", independent_critic: bool = False, hyperparameters: dict | None = None,
          progress: bool = True) -> TrainReport:
    """Train a MAPPO (or, with ``independent_critic``, IPPO) policy and write it with its learning curve.

    Arguments, as ``edgeopt train offloading`` takes them::

        edgeopt train offloading [INSTANCE ...]   instances: paths (or Instances) to draw problems from (their
                                                  slots in turn); none: the scenario space
            [--range NAME=LOW,HIGH ...]           ranges: scenarios.Ranges fields (users_per_cell=1,250,
            [--range cloud=P ...]                 delay_factor=0.1,10, ...; cloud and free_refusal are
                                                  probabilities)
            --steps N                             steps: turns (decisions) in all, rounded up to whole updates
                                                  of batch_decisions
            --seed S                              seed: every random source
            -o PATH                               output: the policy file; the learning curve goes to PATH
                                                  with the suffixes .csv and .png
            [--ippo]                              independent_critic: IPPO instead of MAPPO
            [--set NAME=VALUE ...]                hyperparameters: MAPPOConfig fields
            [--quiet]                             progress=False: no progress bar

    The learning curve (CSV) has per update the decisions so far, seconds, decisions per second, the mean
    reward per decision of the sampled actions, the losses, entropy, gradient norms, mean ratio, approximate
    KL, clip fraction and the value's explained variance, and every ``eval_interval`` updates the greedy
    policy's mean gap to offload-ls and to greedy-offload on validation instances the training never draws,
    and its loss per request against offload-ls in objective points; the PNG plots the reward and the gaps.
    A bad argument is a ValueError naming it. Returns a :class:`TrainReport`.
    """
    from edgeopt.families.offloading.scenarios import Ranges
    from edgeopt.families.offloading.solvers.heuristics import GreedyOffload, OffloadLocalSearch
    from edgeopt.io import load

    cfg = make_config(independent_critic, **(hyperparameters or {}))
    if cfg.reward not in ("change", "regret"):
        raise ValueError(f"hyperparameter reward: the offloading policies learn from 'change' or 'regret', got "
                         f"{cfg.reward!r}")
    ranges = Ranges() if ranges is None else ranges
    if not isinstance(ranges, Ranges):
        raise ValueError(f"ranges must be a scenarios.Ranges, got {ranges!r}")
    rl.check_steps(steps)
    loaded = [load(p) if isinstance(p, (str, os.PathLike)) else p for p in instances]
    for inst in loaded:
        if getattr(inst, "kind", None) != FAMILY:
            raise ValueError(f"{getattr(inst, 'name', inst)!r} is not an offloading instance")
    output, curve_csv, curve_png = rl.curve_paths(output)
    updates = max(1, math.ceil(steps / cfg.batch_decisions))
    training = {"seed": int(seed), "steps": int(steps), "updates": updates,
                "instances": [{"name": i.name, "hash": i.hash} for i in loaded],
                "ranges": None if loaded else ranges.as_dict()}
    validation = _validation(loaded, ranges, int(seed))
    references = [(OffloadLocalSearch().solve(inst).objective, GreedyOffload().solve(inst).objective,
                   int(inst.requested.sum())) for inst in validation]
    source = _Source(loaded, ranges, int(seed))

    def collect(actor, critic, gen):
        return _collect(cfg, Board(source.batch(cfg.batch_decisions, cfg.sweeps), sweeps=cfg.sweeps), actor, critic,
                        gen)

    def validate(actor):
        gaps, greedy_gaps, losses = [], [], []
        for inst, (ls, greedy, requests) in zip(validation, references):
            mine = _objective(inst, greedy_choices(actor, inst)[0])
            gaps.append(relative_gap(mine, ls, "max"))
            greedy_gaps.append(relative_gap(mine, greedy, "max"))
            losses.append((ls - mine) / max(requests, 1))
        return float(np.mean(gaps)), (float(np.mean(gaps)), float(np.mean(greedy_gaps)), float(np.mean(losses)))

    started = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)  # the learning curve is written from the first update on
    with rl.deterministic(seed):
        try:
            result = rl.train_loop(cfg, networks=make_networks(cfg), collect=collect, validate=validate,
                                   validation_columns=VALIDATION_COLUMNS, updates=updates, seed=int(seed),
                                   curve_csv=curve_csv, progress=progress, started=started, label=FAMILY)
        except BaseException:  # an interruption: no half-written learning curve
            curve_csv.unlink(missing_ok=True)
            raise
        actor, critic, value_norm, decisions, last_gap = result
        training["decisions"] = decisions
        header = save_policy(output, actor=actor, critic=critic, value_norm=value_norm, cfg=cfg, training=training)
    rl.plot_curve(curve_csv, curve_png, header["algorithm"], {"validation_gap_to_ls": "gap to offload-ls",
                                                             "validation_gap_to_greedy": "gap to greedy-offload"},
                  "greedy policy's gap, %")
    return TrainReport(output, curve_csv, curve_png, header, decisions, updates, time.perf_counter() - started,
                       last_gap)


def _collect(cfg: MAPPOConfig, board: Board, actor, critic, gen) -> dict:
    """Play the board with sampled rows; every turn's rows, action, log-probability, value, reward, and the
    same agent's next turn (-1: its last)."""
    import torch

    out: dict[str, list] = {k: [] for k in ("features", "counts", "allowed", "action", "logp", "value", "reward",
                                            "cin", "agent")}
    while not board.done:
        movers = board.movers()
        rows = board.rows(movers)
        cin = critic_features(board, movers, rows, cfg.use_centralized_V)
        with torch.no_grad():
            logp_rows = log_policy(actor, *_tensors(rows), movers.size).numpy().astype(np.float64)
            value = critic(torch.from_numpy(cin)).squeeze(1)
        picked = rl.sample_rows(logp_rows, rows["mover"], movers.size, gen)
        starts = np.searchsorted(rows["mover"], np.arange(movers.size))
        a = picked - starts
        logp = logp_rows[picked].astype(np.float32)
        out["features"].append(rows["features"])
        out["counts"].append(np.bincount(rows["mover"], minlength=movers.size))
        out["allowed"].append(rows["allowed"])
        out["action"].append(a)
        out["logp"].append(logp)
        out["value"].append(value.numpy())
        out["reward"].append(_reward(cfg, rows, picked, movers.size))
        out["cin"].append(cin)
        out["agent"].append(movers)
        board.apply(movers, rows["option"][picked])
    data = {k: np.concatenate(v) for k, v in out.items()}
    data["next"] = rl.next_of(data["agent"])
    return data


#: ``reward="regret"``: a turn's regret is divided by the gap between its best and second-best rows, floored
#: at this many of the problem's units, and clipped at -REGRET_CLIP.
REGRET_FLOOR = 1e-4
REGRET_CLIP = 10.0


def _reward(cfg: MAPPOConfig, rows: dict, picked: np.ndarray, movers: int) -> np.ndarray:
    """Each mover's reward for its picked row: the change of the slot's objective in units (``"change"``), or
    (``"regret"``) minus the picked row's shortfall from the mover's best allowed row, over the gap between
    its best and second-best allowed rows (clipped at -REGRET_CLIP): 0 for the best row, -1 for the second.
    Both rank a turn's rows the same way, so with gamma 0 they have the same best policy; the regret weighs
    a close call as much as a clear one, which the change leaves lost among larger rewards."""
    if cfg.reward == "change":
        return rows["reward"][picked].astype(np.float32)
    q = np.where(rows["allowed"], rows["q"], -np.inf)
    best = first_best(q, rows["mover"], movers)
    second = np.full(movers, -np.inf)
    others = np.ones(q.size, dtype=bool)
    others[best] = False
    np.maximum.at(second, rows["mover"][others], q[others])
    scale = np.maximum(q[best] - second, REGRET_FLOOR * rows["unit"])
    return np.maximum((q[picked] - q[best]) / scale, -REGRET_CLIP).astype(np.float32)


# -- the solvers --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyOptions(Options):
    policy: str | None = None  # a policy file; None: the one shipped with edgeopt
    allocation: Literal["closed", "slsqp", "equal"] = "closed"
    sweeps: int = option(SWEEPS, at_least=1, at_most=64)  # sweeps of turns per slot (stops early when settled)


class _PolicySolver(Solver):
    family, Options = "offloading", PolicyOptions
    requires = ("torch",)
    shipped = ""

    @classmethod
    def default_policy(cls) -> Path:
        return POLICIES / cls.shipped

    def run(self, instance, options, *, time_limit, seed, started):
        policy = rl.solver_policy(self.name, self.name, options.policy, self.default_policy(), KIND,
                                  "benchmarks/papers/train_offloading_policy.py")
        stop = deadline(started, time_limit)
        built, cpu = time.perf_counter(), time.process_time()
        board = Board([(instance, t) for t in range(instance.slots)], sweeps=options.sweeps)
        finished = play(policy.actor, board, stop)
        chosen = board.choices()
        # The decision itself (option rows, features, the actor), apart from the allocation stage and the
        # plan's pricing that every heuristic shares.
        decision = {"decision_seconds": time.perf_counter() - built, "decision_cpu_seconds": time.process_time() - cpu,
                    "sweeps_played": board.played}
        what = f"{policy.algorithm} policy's greedy rows"
        if not finished:
            what += (f", stopped by the time limit in sweep {board.sweep + 1} of {options.sweeps} (requests not yet "
                     "placed refused)")
        return _result(self, instance, chosen, options.allocation, started=started, built=built, stop=stop, what=what,
                       extra={"policy": policy.path, "policy_hash": policy.header["content_hash"],
                              "algorithm": policy.algorithm, **decision})


@register_solver
class MAPPOPolicy(_PolicySolver):
    """MAPPO policy (a shared option scorer, centralised critic, trained on the scenario space): users take
    turns choosing their best-scored option, then the allocation stage; no training at solve time."""

    name, shipped = "mappo", "offloading-mappo.pt"


@register_solver
class IPPOPolicy(_PolicySolver):
    """IPPO policy (the same option scorer, each agent's critic on its own view): users take turns choosing
    their best-scored option, then the allocation stage; no training at solve time."""

    name, shipped = "ippo", "offloading-ippo.pt"


__all__ = [
    "CURVE_COLUMNS",
    "IPPOPolicy",
    "KIND",
    "LIMITS",
    "LOGIT_BOUND",
    "MAPPOConfig",
    "MAPPOPolicy",
    "Policy",
    "TrainReport",
    "ValueNorm",
    "critic_features",
    "greedy_choices",
    "greedy_rows",
    "load_policy",
    "make_config",
    "make_networks",
    "log_policy",
    "play",
    "save_policy",
    "train",
]
