"""MAPPO for the offloading family, in one file (in the style of CleanRL's ppo.py): hyperparameters, networks,
value normalisation, rollouts, the PPO update, training, the policy file, and the two solvers that use a
trained policy (``mappo`` and ``ippo``).

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

import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

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
from edgeopt.solver import Options, Solver, deadline, option

POLICIES = Path(__file__).resolve().parents[3] / "data" / "policies"
FORMAT = "edgeopt-policy"
FORMAT_VERSION = 2
FAMILY = "offloading"
#: Logits are clamped to this before the softmax: every allowed row keeps a probability of at least
#: exp(-2 LOGIT_BOUND) / rows.
LOGIT_BOUND = 40.0
_R = len(ROW_FIELDS)


# -- hyperparameters ----------------------------------------------------------------------------------------
#: Upper bounds of hyperparameters: a policy file's header is checked against them before a network is built.
LIMITS = {"ppo_epoch": 1000, "num_mini_batch": 4096, "hidden_size": 1024, "layer_N": 8, "sweeps": 64,
          "batch_decisions": 1_000_000, "eval_interval": 1_000_000}


@dataclass(frozen=True)
class MAPPOConfig:
    """MAPPO's hyperparameters. The defaults are those of marlbenchmark/on-policy ``onpolicy/config.py``
    (algorithm ``mappo``) where they apply; the last three are this problem's."""

    lr: float = 5e-4  # actor learning rate
    critic_lr: float = 5e-4
    opti_eps: float = 1e-5  # Adam's eps
    weight_decay: float = 0.0
    ppo_epoch: int = 15
    num_mini_batch: int = 1
    clip_param: float = 0.2
    entropy_coef: float = 0.01
    value_loss_coef: float = 1.0
    max_grad_norm: float = 10.0
    gamma: float = 0.99
    gae_lambda: float = 0.95
    use_huber_loss: bool = True
    huber_delta: float = 10.0
    use_clipped_value_loss: bool = True
    use_valuenorm: bool = True
    use_max_grad_norm: bool = True
    use_linear_lr_decay: bool = False
    hidden_size: int = 64
    layer_N: int = 1
    use_feature_normalization: bool = True  # LayerNorm on the inputs
    use_orthogonal: bool = True
    use_ReLU: bool = True
    gain: float = 0.01  # of the score head
    use_centralized_V: bool = True  # False: IPPO
    # -- this problem's --
    reward: Literal["change", "regret"] = "change"  # what a move is rewarded with (module docstring)
    sweeps: int = 3  # sweeps of turns per slot while training (observation.py)
    batch_decisions: int = 8192  # turns collected per update
    eval_interval: int = 5  # updates between two evaluations of the greedy policy for the learning curve

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"hyperparameter {f.name}: must be an integer, got {value!r}")
            if f.type == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise ValueError(f"hyperparameter {f.name}: must be a finite number, got {value!r}")
            if f.type == "bool" and not isinstance(value, bool):
                raise ValueError(f"hyperparameter {f.name}: must be true or false, got {value!r}")
        for name in ("ppo_epoch", "num_mini_batch", "hidden_size", "sweeps", "batch_decisions", "eval_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"hyperparameter {name}: must be >= 1, got {getattr(self, name)!r}")
        for name, most in LIMITS.items():
            if getattr(self, name) > most:
                raise ValueError(f"hyperparameter {name}: must be <= {most}, got {getattr(self, name)!r}")
        for name in ("lr", "critic_lr", "opti_eps", "clip_param", "max_grad_norm", "huber_delta", "gain"):
            if not getattr(self, name) > 0:
                raise ValueError(f"hyperparameter {name}: must be > 0, got {getattr(self, name)!r}")
        for name in ("weight_decay", "entropy_coef", "value_loss_coef", "layer_N"):
            if getattr(self, name) < 0:
                raise ValueError(f"hyperparameter {name}: must be >= 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"hyperparameter {name}: must be between 0 and 1, got {getattr(self, name)!r}")
        if self.reward not in ("change", "regret"):
            raise ValueError(f"hyperparameter reward: must be 'change' or 'regret', got {self.reward!r}")
        if self.reward == "regret" and self.gamma != 0:
            raise ValueError("hyperparameter reward: 'regret' rescales each turn's reward by that turn's own "
                             "options, which keeps each turn's best move only when turns are judged alone: it "
                             f"needs gamma 0, got gamma {self.gamma!r}")


def make_config(independent_critic: bool = False, **overrides) -> MAPPOConfig:
    """The defaults with ``overrides``; an unknown name is a ValueError naming it."""
    known = {f.name for f in dataclasses.fields(MAPPOConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if independent_critic:
        overrides["use_centralized_V"] = False
    return MAPPOConfig(**overrides)


# -- networks ----------------------------------------------------------------------------------------------
def _init(layer, gain, cfg: MAPPOConfig):
    from torch import nn

    if cfg.use_orthogonal:
        nn.init.orthogonal_(layer.weight, gain=gain)
    else:
        nn.init.xavier_uniform_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


def _mlp(in_dim: int, cfg: MAPPOConfig, normalise_input: bool):
    """The reference's MLPBase: [LayerNorm of the input,] Linear-act-LayerNorm, then ``layer_N`` more."""
    from torch import nn

    act, gain = (nn.ReLU, nn.init.calculate_gain("relu")) if cfg.use_ReLU else (nn.Tanh, nn.init.calculate_gain("tanh"))
    layers: list = [nn.LayerNorm(in_dim)] if normalise_input and cfg.use_feature_normalization else []
    layers += [_init(nn.Linear(in_dim, cfg.hidden_size), gain, cfg), act(), nn.LayerNorm(cfg.hidden_size)]
    for _ in range(cfg.layer_N):
        layers += [_init(nn.Linear(cfg.hidden_size, cfg.hidden_size), gain, cfg), act(), nn.LayerNorm(cfg.hidden_size)]
    return nn.Sequential(*layers)


@functools.cache
def _scorer_class():
    import torch
    from torch import nn

    class Scorer(nn.Module):
        """Scores the rows of several movers, given flat: ``x`` (N, ROW_INPUT), ``mover`` (N,) each row's mover
        in 0..movers-1, ``allowed`` (N,) bool. An MLP embeds every row, the embeddings of each mover's allowed
        rows are max-pooled, and a second MLP scores each row from its embedding and its mover's pool: (N,)
        logits (forbidden rows are for the caller to mask)."""

        def __init__(self, cfg: MAPPOConfig):
            super().__init__()
            act, gain = ((nn.ReLU, nn.init.calculate_gain("relu")) if cfg.use_ReLU
                         else (nn.Tanh, nn.init.calculate_gain("tanh")))
            self.embed = _mlp(ROW_INPUT, cfg, normalise_input=True)
            self.mix = nn.Sequential(_init(nn.Linear(2 * cfg.hidden_size, cfg.hidden_size), gain, cfg), act(),
                                     nn.LayerNorm(cfg.hidden_size))
            self.head = _init(nn.Linear(cfg.hidden_size, 1), cfg.gain, cfg)

        def forward(self, x, mover, allowed, movers: int):
            h = self.embed(x)
            pool = torch.full((movers, h.shape[1]), float("-inf"), dtype=h.dtype).scatter_reduce(
                0, mover[:, None].expand_as(h), h.masked_fill(~allowed[:, None], float("-inf")), reduce="amax")
            return self.head(self.mix(torch.cat([h, pool[mover]], dim=1))).squeeze(1)

    return Scorer


def critic_input_size(cfg: MAPPOConfig) -> int:
    return (STATE if cfg.use_centralized_V else 0) + CONTEXT + 2 * _R


def make_networks(cfg: MAPPOConfig):
    """(actor, critic): the actor scores flat rows (``Scorer``), the critic maps its input (B,
    critic_input_size) to a value."""
    from torch import nn

    actor = _scorer_class()(cfg)
    critic = nn.Sequential(*_mlp(critic_input_size(cfg), cfg, normalise_input=True),
                           _init(nn.Linear(cfg.hidden_size, 1), 1.0, cfg))
    return actor, critic


def log_policy(actor, x, mover, allowed, movers: int):
    """(N,) every row's log-probability under the actor: a softmax over each mover's allowed rows of the
    logits clamped to +-LOGIT_BOUND. A forbidden row's logit is -1e9: its probability is exactly 0, and
    0 x log-probability stays 0 (with -inf, gradients of the entropy would be NaN)."""
    import torch

    z = actor(x, mover, allowed, movers).clamp(-LOGIT_BOUND, LOGIT_BOUND)
    z = z.masked_fill(~allowed, -1e9)
    top = torch.full((movers,), float("-inf"), dtype=z.dtype).scatter_reduce(0, mover, z.detach(), reduce="amax")
    shifted = z - top[mover]
    total = torch.zeros(movers, dtype=z.dtype).index_add(0, mover, torch.exp(shifted))
    return shifted - torch.log(total)[mover]


def first_best(values: np.ndarray, mover: np.ndarray, movers: int) -> np.ndarray:
    """Per mover the index of its row of the highest value (the first in row order on a tie); rows are
    grouped by mover in increasing order."""
    order = np.lexsort((-values, mover))
    return order[np.searchsorted(mover[order], np.arange(movers), side="left")]


def greedy_rows(actor, x, mover, allowed, movers: int) -> np.ndarray:
    """Each mover's decision: the index of its allowed row of the highest logit (unclamped; the first in
    canonical order on a tie)."""
    z = actor(x, mover, allowed, movers).detach().numpy().astype(np.float64)
    return first_best(np.where(allowed.numpy(), z, -np.inf), mover.numpy(), movers)


class ValueNorm:
    """The reference's ValueNorm: running mean and mean of squares of the returns (beta 0.99999, debiased),
    the variance floored at 1e-2; the critic learns normalised values."""

    def __init__(self, beta: float = 0.99999, epsilon: float = 1e-5):
        import torch

        self.beta, self.epsilon = beta, epsilon
        self.running_mean = torch.zeros(1, dtype=torch.float64)
        self.running_mean_sq = torch.zeros(1, dtype=torch.float64)
        self.debiasing_term = torch.zeros((), dtype=torch.float64)

    def mean_var(self):
        mean = self.running_mean / self.debiasing_term.clamp(min=self.epsilon)
        mean_sq = self.running_mean_sq / self.debiasing_term.clamp(min=self.epsilon)
        return mean, (mean_sq - mean ** 2).clamp(min=1e-2)

    def update(self, x) -> None:
        x = x.double()
        w = self.beta
        self.running_mean.mul_(w).add_(x.mean() * (1.0 - w))
        self.running_mean_sq.mul_(w).add_((x ** 2).mean() * (1.0 - w))
        self.debiasing_term.mul_(w).add_(1.0 - w)

    def normalize(self, x):
        mean, var = self.mean_var()
        return ((x.double() - mean) / var.sqrt()).to(x.dtype)

    def denormalize(self, x):
        mean, var = self.mean_var()
        return (x.double() * var.sqrt() + mean).to(x.dtype)

    def state_dict(self) -> dict:
        return {"running_mean": self.running_mean, "running_mean_sq": self.running_mean_sq,
                "debiasing_term": self.debiasing_term}

    def load_state_dict(self, d: dict) -> None:
        self.running_mean, self.running_mean_sq = d["running_mean"].clone(), d["running_mean_sq"].clone()
        self.debiasing_term = d["debiasing_term"].clone()


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
def _tensors(rows: dict):
    import torch

    return (torch.from_numpy(rows["features"]), torch.from_numpy(rows["mover"]),
            torch.from_numpy(rows["allowed"]))


def play(actor, board: Board, stop: float | None = None) -> bool:
    """Play the board to its end with the actor's greedy rows; False when ``stop`` came first (the moves made
    so far stand; users not yet placed stay refused)."""
    import torch

    threads = torch.get_num_threads()
    # One thread (restored after): a tick's batch is small, and idle threads spinning on a busy machine cost
    # more than they help.
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            while not board.done:
                if _past(stop):
                    return False
                movers = board.movers()
                rows = board.rows(movers)
                pick = greedy_rows(actor, *_tensors(rows), movers.size)
                board.apply(movers, rows["option"][pick])
    finally:
        torch.set_num_threads(threads)
    return True


def greedy_choices(actor, inst, stop: float | None = None, sweeps: int = SWEEPS) -> tuple[list[np.ndarray], bool]:
    """Every slot's choices (per requesting user an index into ``inst.options(t)``, -1 refused) under the
    actor's greedy rows, and whether the play ended before ``stop``."""
    board = Board([(inst, t) for t in range(inst.slots)], sweeps=sweeps)
    finished = play(actor, board, stop)
    return board.choices(), finished


# -- the policy file -----------------------------------------------------------------------------------------
def _tensors_hash(header: dict, tensors: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in header.items() if k != "content_hash"}, sort_keys=True).encode())
    for group in sorted(tensors):
        for name in sorted(tensors[group]):
            t = tensors[group][name].detach().contiguous().cpu()
            h.update(f"{group}.{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()


def _layout() -> dict:
    return json.loads(json.dumps(LAYOUT))  # tuples as lists, as a JSON header holds them


def save_policy(path, *, actor, critic, value_norm: ValueNorm, cfg: MAPPOConfig, training: dict) -> dict:
    """Write a policy file (tensors and a JSON header, atomically); returns the header."""
    import torch

    tensors = {"actor": {k: v.detach().clone() for k, v in actor.state_dict().items()},
               "critic": {k: v.detach().clone() for k, v in critic.state_dict().items()},
               "value_norm": value_norm.state_dict()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "family": FAMILY,
              "algorithm": "mappo" if cfg.use_centralized_V else "ippo", "layout": _layout(),
              "hyperparameters": dataclasses.asdict(cfg), "training": training}
    header["content_hash"] = _tensors_hash(header, tensors)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    buffer = io.BytesIO()  # a file object: the archive's inner folder is "archive", not the file's name
    torch.save({"header": json.dumps(header, sort_keys=True), **tensors}, buffer)
    try:
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return header


@dataclass(frozen=True, eq=False)
class Policy:
    """A loaded policy: its header, hyperparameters and networks (eval mode)."""

    path: str
    header: dict
    config: MAPPOConfig
    actor: object
    critic: object
    value_norm: ValueNorm

    @property
    def algorithm(self) -> str:
        return self.header["algorithm"]


def _differs(what: str, theirs, ours) -> str:
    return f"its {what} is {theirs!r}, this edgeopt's is {ours!r}"


#: The largest policy file read (the shipped ones are well under 1 MB; hidden_size 1024 gives about 40 MB).
MAX_POLICY_BYTES = 64 * 1024 * 1024


def _check_tensors(path: Path, group: str, given, expected: dict) -> None:
    """The tensors of one group: a mapping of exactly the expected names to tensors of the expected shapes
    and a floating dtype (checked before anything is loaded into a network)."""
    import torch

    where = f"policy {str(path)!r}: its {group} tensors"
    if not isinstance(given, dict):
        raise ValueError(f"{where} are not a mapping of names to tensors")
    if set(given) != set(expected):
        missing, extra = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
        raise ValueError(f"{where} do not match its hyperparameters (missing {missing[:3]}, unexpected "
                         f"{extra[:3]})")
    for name, t in given.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{where}: {name} is not a tensor")
        if tuple(t.shape) != tuple(expected[name].shape) or not t.dtype.is_floating_point:
            raise ValueError(f"{where}: {name} has shape {tuple(t.shape)} ({t.dtype}), expected "
                             f"{tuple(expected[name].shape)}")


def load_policy(path) -> Policy:
    """Read a policy file; ValueError when it is not one, or when its family or layout differs (named)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"policy {str(path)!r}: no such file")
    size = path.stat().st_size
    if size > MAX_POLICY_BYTES:  # before reading
        raise ValueError(f"policy {str(path)!r} is {size:,} bytes; an edgeopt policy file is at most "
                         f"{MAX_POLICY_BYTES:,}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (not a torch file, a damaged one, or one holding more than tensors)
        raise ValueError(f"policy {str(path)!r} is not an edgeopt policy file (expected one written by "
                         f"`edgeopt train`; PyTorch cannot read it: {type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("header"), str):
        # a bad file, not a bad argument type: ValueError (exit 2 on the command line)
        raise ValueError(f"policy {str(path)!r} is not an edgeopt policy file: no JSON header")  # noqa: TRY004
    try:
        header = json.loads(data["header"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"policy {str(path)!r}: its header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"policy {str(path)!r}: its header is not a JSON object")
    where = f"policy {str(path)!r} cannot be used here: "
    if header.get("format") != FORMAT:
        raise ValueError(where + _differs("format", header.get("format"), FORMAT))
    layout = header.get("layout")
    version = layout.get("version") if isinstance(layout, dict) else None
    if header.get("format_version") == 1 or version == 1:
        raise ValueError(where + "it was written for edgeopt's first policy layout (a fixed action slot per "
                         "configuration of the instance's list), which this edgeopt no longer has: its policies "
                         "score each option from the option's own features; train a new one with `edgeopt train "
                         "offloading` (docs/solvers.md)")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(where + _differs("format version", header.get("format_version"), FORMAT_VERSION))
    if header.get("family") != FAMILY:
        raise ValueError(where + _differs("family", header.get("family"), FAMILY))
    if not isinstance(layout, dict):
        raise ValueError(where + "its header has no layout")
    ours = _layout()
    for key in ours:
        theirs = layout.get(key)
        if theirs == ours[key]:
            continue
        if key == "version" or not isinstance(theirs, list):
            raise ValueError(where + _differs("layout version" if key == "version" else f"layout's {key} fields",
                                              theirs, ours[key]))
        at = next((i for i, (a, b) in enumerate(zip(theirs, ours[key])) if a != b), min(len(theirs), len(ours[key])))
        raise ValueError(where + f"its layout's {key} fields differ from this edgeopt's ({len(theirs)} against "
                         f"{len(ours[key])}; first difference at position {at}: "
                         f"{theirs[at] if at < len(theirs) else None!r} against "
                         f"{ours[key][at] if at < len(ours[key]) else None!r})")
    if header.get("algorithm") not in ("mappo", "ippo"):
        raise ValueError(where + _differs("algorithm", header.get("algorithm"), "mappo or ippo"))
    hyper = header.get("hyperparameters")
    try:
        if not isinstance(hyper, dict):
            raise TypeError("not a JSON object")
        cfg = MAPPOConfig(**hyper)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"policy {str(path)!r}: its hyperparameters are not valid ({exc})") from None
    if cfg.use_centralized_V != (header["algorithm"] == "mappo"):
        raise ValueError(f"policy {str(path)!r}: its algorithm {header['algorithm']!r} disagrees with its critic")
    actor, critic = make_networks(cfg)
    norm = ValueNorm()
    expected = {"actor": actor.state_dict(), "critic": critic.state_dict(), "value_norm": norm.state_dict()}
    for group in expected:
        _check_tensors(path, group, data.get(group), expected[group])
    tensors = {k: data[k] for k in expected}
    if _tensors_hash(header, tensors) != header.get("content_hash"):
        raise ValueError(f"policy {str(path)!r}: its content does not match its content hash (a damaged or edited "
                         "file)")
    with torch.no_grad():
        actor.load_state_dict({k: v.float() for k, v in tensors["actor"].items()})
        critic.load_state_dict({k: v.float() for k, v in tensors["critic"].items()})
    norm.load_state_dict({k: v.double() for k, v in tensors["value_norm"].items()})
    actor.eval()
    critic.eval()
    return Policy(str(path), header, cfg, actor, critic, norm)


_LOADED: dict[tuple, Policy] = {}


def cached_policy(path) -> Policy:
    """:func:`load_policy`, read once per file version (path, size, modification time)."""
    path = Path(path).resolve()
    try:
        st = path.stat()
    except OSError:
        raise ValueError(f"policy {str(path)!r}: no such file") from None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _LOADED:
        if len(_LOADED) >= 8:  # a few policies are in use at a time
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = load_policy(path)
    return _LOADED[key]


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


CURVE_COLUMNS = ("update", "decisions", "seconds", "decisions_per_second", "reward_per_decision", "value_loss",
                 "policy_loss", "entropy", "actor_grad_norm", "critic_grad_norm", "ratio", "approx_kl",
                 "clip_fraction", "explained_variance", "validation_gap_to_ls", "validation_gap_to_greedy",
                 "validation_loss_per_request")
#: The columns _ppo_update measures.
UPDATE_COLUMNS = CURVE_COLUMNS[5:14]
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
    import torch
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    from edgeopt.families.offloading.scenarios import Ranges
    from edgeopt.families.offloading.solvers.heuristics import GreedyOffload, OffloadLocalSearch
    from edgeopt.io import load

    cfg = make_config(independent_critic, **(hyperparameters or {}))
    ranges = Ranges() if ranges is None else ranges
    if not isinstance(ranges, Ranges):
        raise ValueError(f"ranges must be a scenarios.Ranges, got {ranges!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10 ** 9:
        raise ValueError(f"steps must be an integer between 1 and 1,000,000,000, got {steps!r}")
    loaded = [load(p) if isinstance(p, (str, os.PathLike)) else p for p in instances]
    for inst in loaded:
        if getattr(inst, "kind", None) != FAMILY:
            raise ValueError(f"{getattr(inst, 'name', inst)!r} is not an offloading instance")
    output = Path(output)
    curve_csv, curve_png = output.with_suffix(".csv"), output.with_suffix(".png")
    if output.suffix.lower() in (".csv", ".png"):
        raise ValueError(f"{output}: the policy file cannot end in .csv or .png (its learning curve goes there); "
                         "name it .pt")
    updates = max(1, math.ceil(steps / cfg.batch_decisions))
    training = {"seed": int(seed), "steps": int(steps), "updates": updates,
                "instances": [{"name": i.name, "hash": i.hash} for i in loaded],
                "ranges": None if loaded else ranges.as_dict()}
    validation = _validation(loaded, ranges, int(seed))
    references = [(OffloadLocalSearch().solve(inst).objective, GreedyOffload().solve(inst).objective,
                   int(inst.requested.sum())) for inst in validation]

    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    started = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)  # the learning curve is written from the first update on
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        with threadpool_limits(1):
            torch.manual_seed(seed)
            np.random.seed(seed % 2 ** 32)
            try:
                result = _train_loop(cfg, _Source(loaded, ranges, int(seed)), updates, int(seed), validation,
                                     references, curve_csv, tqdm, progress, started)
            except BaseException:  # an interruption: no half-written learning curve
                curve_csv.unlink(missing_ok=True)
                raise
            actor, critic, value_norm, decisions, last_gap = result
            training["decisions"] = decisions
            header = save_policy(output, actor=actor, critic=critic, value_norm=value_norm, cfg=cfg,
                                 training=training)
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)
    _plot_curve(curve_csv, curve_png, header["algorithm"])
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
        # sample a row per mover by the Gumbel-max trick (exact; forbidden rows have log-probability -inf)
        uniform = torch.rand(logp_rows.size, generator=gen, dtype=torch.float64).numpy()
        gumbel = -np.log(-np.log(np.clip(uniform, 1e-300, 1.0 - 1e-16)))
        picked = first_best(logp_rows + gumbel, rows["mover"], movers.size)
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
    agent = data["agent"]
    nxt = np.full(agent.size, -1, dtype=np.int64)
    last: dict[int, int] = {}
    for i in range(agent.size - 1, -1, -1):
        nxt[i] = last.get(int(agent[i]), -1)
        last[int(agent[i])] = i
    data["next"] = nxt
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


def _returns(cfg: MAPPOConfig, data: dict, value_norm: ValueNorm) -> tuple[np.ndarray, np.ndarray]:
    """GAE along each agent's turns; (returns, advantages)."""
    import torch

    v = data["value"]
    values = value_norm.denormalize(torch.from_numpy(v)).numpy() if cfg.use_valuenorm else v
    nxt = data["next"]
    adv = np.zeros_like(values)
    for i in range(values.size - 1, -1, -1):  # a turn's next turn comes later in the batch
        j = nxt[i]
        following = values[j] if j >= 0 else 0.0
        delta = data["reward"][i] + cfg.gamma * following - values[i]
        adv[i] = delta + (cfg.gamma * cfg.gae_lambda * adv[j] if j >= 0 else 0.0)
    return adv + values, adv


def _train_loop(cfg: MAPPOConfig, source: _Source, updates: int, seed: int, validation: list, references: list,
                curve_csv: Path, tqdm, progress: bool, started: float):
    import torch

    gen = torch.Generator().manual_seed(seed)  # action sampling and mini-batch order
    actor, critic = make_networks(cfg)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.lr, eps=cfg.opti_eps, weight_decay=cfg.weight_decay)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, eps=cfg.opti_eps,
                                  weight_decay=cfg.weight_decay)
    value_norm = ValueNorm()
    decisions, last_gap = 0, None
    with (open(curve_csv, "w", newline="") as curve,
          tqdm(total=updates, unit="update", disable=not progress, desc=f"training {FAMILY}") as bar):
        writer = csv.writer(curve)
        writer.writerow(CURVE_COLUMNS)
        for update in range(1, updates + 1):
            if cfg.use_linear_lr_decay:
                frac = 1.0 - (update - 1.0) / updates
                actor_opt.param_groups[0]["lr"] = frac * cfg.lr
                critic_opt.param_groups[0]["lr"] = frac * cfg.critic_lr
            actor.eval()
            critic.eval()
            board = Board(source.batch(cfg.batch_decisions, cfg.sweeps), sweeps=cfg.sweeps)
            data = _collect(cfg, board, actor, critic, gen)
            decisions += int(data["action"].size)
            info = _ppo_update(cfg, actor, critic, actor_opt, critic_opt, value_norm, gen, data)
            cells = ["", "", ""]
            if update % cfg.eval_interval == 0 or update == updates:
                actor.eval()
                gaps, greedy_gaps, losses = [], [], []
                for inst, (ls, greedy, requests) in zip(validation, references):
                    mine = _objective(inst, greedy_choices(actor, inst)[0])
                    gaps.append(relative_gap(mine, ls, "max"))
                    greedy_gaps.append(relative_gap(mine, greedy, "max"))
                    losses.append((ls - mine) / max(requests, 1))
                last_gap = float(np.mean(gaps))
                cells = [f"{last_gap:.6g}", f"{np.mean(greedy_gaps):.6g}", f"{np.mean(losses):.6g}"]
                bar.set_postfix(gap_to_ls=f"{100 * last_gap:.3f}%")
            bar.update(1)
            elapsed = time.perf_counter() - started
            writer.writerow([update, decisions, f"{elapsed:.1f}", f"{decisions / max(elapsed, 1e-9):.1f}",
                             f"{float(data['reward'].mean()):.6g}", *(f"{info[k]:.6g}" for k in UPDATE_COLUMNS),
                             *cells])
            curve.flush()
    actor.eval()
    critic.eval()
    return actor, critic, value_norm, decisions, last_gap


def _ppo_update(cfg, actor, critic, actor_opt, critic_opt, value_norm, gen, data) -> dict:
    """``ppo_epoch`` passes over ``num_mini_batch`` mini-batches of the collected turns (the reference's
    R_MAPPO.train / ppo_update / cal_value_loss)."""
    import torch
    from torch import nn

    returns, adv = _returns(cfg, data, value_norm)
    # the returns less the (denormalised) values are the advantages
    explained = float(1.0 - adv.var() / returns.var()) if returns.size > 1 and returns.var() > 0 else float("nan")
    adv = (adv - adv.mean()) / (adv.std() + 1e-5)

    N = data["action"].size
    counts = data["counts"]
    row_start = np.cumsum(counts) - counts
    x, allowed = torch.from_numpy(data["features"]), torch.from_numpy(data["allowed"])
    act_row = torch.from_numpy(row_start + data["action"])
    old_logp = torch.from_numpy(data["logp"])
    old_val, cin = torch.from_numpy(data["value"]), torch.from_numpy(data["cin"])
    ret, advt = torch.from_numpy(returns.astype(np.float32)), torch.from_numpy(adv.astype(np.float32))
    size = max(1, N // cfg.num_mini_batch)
    sums = dict.fromkeys(UPDATE_COLUMNS, 0.0)

    def huber(e):
        d = cfg.huber_delta
        return torch.where(e.abs() <= d, e ** 2 / 2, d * (e.abs() - d / 2))

    actor.train()
    critic.train()
    for _ in range(cfg.ppo_epoch):
        order = torch.randperm(N, generator=gen)
        for i in range(cfg.num_mini_batch):
            idx = torch.sort(order[i * size:(i + 1) * size]).values
            ids = idx.numpy()
            n_rows = counts[ids]
            rows = np.repeat(row_start[ids], n_rows) + (np.arange(n_rows.sum()) - np.repeat(np.cumsum(n_rows) - n_rows,
                                                                                            n_rows))
            mover = torch.from_numpy(np.repeat(np.arange(ids.size), n_rows))
            rows_t = torch.from_numpy(rows)
            logp_rows = log_policy(actor, x[rows_t], mover, allowed[rows_t], ids.size)
            local = torch.from_numpy(np.searchsorted(rows, act_row[idx].numpy()))
            logp = logp_rows[local]
            entropy = -torch.zeros(ids.size).index_add(0, mover, torch.exp(logp_rows) * logp_rows).mean()
            ratio = torch.exp(logp - old_logp[idx])
            surr1 = ratio * advt[idx]
            surr2 = torch.clamp(ratio, 1.0 - cfg.clip_param, 1.0 + cfg.clip_param) * advt[idx]
            policy_loss = -torch.min(surr1, surr2).mean()
            actor_opt.zero_grad()
            (policy_loss - entropy * cfg.entropy_coef).backward()
            if cfg.use_max_grad_norm:
                actor_norm = nn.utils.clip_grad_norm_(actor.parameters(), cfg.max_grad_norm)
            else:
                actor_norm = torch.norm(torch.stack([p.grad.norm() for p in actor.parameters()]))
            actor_opt.step()

            value = critic(cin[idx]).squeeze(1)
            old = old_val[idx]
            clipped = old + (value - old).clamp(-cfg.clip_param, cfg.clip_param)
            target = ret[idx]
            if cfg.use_valuenorm:
                value_norm.update(target)
                target = value_norm.normalize(target)
            err_c, err_o = target - clipped, target - value
            if cfg.use_huber_loss:
                loss_c, loss_o = huber(err_c), huber(err_o)
            else:
                loss_c, loss_o = err_c ** 2 / 2, err_o ** 2 / 2
            vloss = torch.max(loss_o, loss_c) if cfg.use_clipped_value_loss else loss_o
            value_loss = vloss.mean()
            critic_opt.zero_grad()
            (value_loss * cfg.value_loss_coef).backward()
            if cfg.use_max_grad_norm:
                critic_norm = nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)
            else:
                critic_norm = torch.norm(torch.stack([p.grad.norm() for p in critic.parameters()]))
            critic_opt.step()
            with torch.no_grad():
                log_ratio = logp - old_logp[idx]
                approx_kl = ((ratio - 1.0) - log_ratio).mean()  # CleanRL's estimator
                clipped_share = ((ratio - 1.0).abs() > cfg.clip_param).float().mean()
            for key, v in (("value_loss", value_loss), ("policy_loss", policy_loss), ("entropy", entropy),
                           ("actor_grad_norm", actor_norm), ("critic_grad_norm", critic_norm),
                           ("ratio", ratio.mean()), ("approx_kl", approx_kl), ("clip_fraction", clipped_share)):
                sums[key] += float(v.detach())
    n = cfg.ppo_epoch * cfg.num_mini_batch
    out = {k: v / n for k, v in sums.items()}
    out["explained_variance"] = explained
    return out


def _plot_curve(curve_csv: Path, curve_png: Path, algorithm: str) -> None:
    """The learning curve as a PNG (matplotlib's Figure API, never pyplot); markers on every point, so that a
    curve of one update still shows."""
    from matplotlib.figure import Figure

    with open(curve_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    x = [int(r["decisions"]) for r in rows]
    fig = Figure(figsize=(9, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(x, [float(r["reward_per_decision"]) for r in rows], marker="o", ms=3, lw=1.2)
    ax1.set_xlabel("decisions (turns)")
    ax1.set_ylabel("reward per decision (sampled rows, units)")
    ax1.set_title(f"{algorithm}: rollouts")
    for key, label in (("validation_gap_to_ls", "gap to offload-ls"), ("validation_gap_to_greedy",
                                                                       "gap to greedy-offload")):
        ev = [(xx, 100 * float(r[key])) for xx, r in zip(x, rows) if r[key]]
        if ev:
            ax2.plot([e[0] for e in ev], [e[1] for e in ev], marker="o", ms=3, lw=1.2, label=label)
    ax2.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax2.set_yscale("symlog", linthresh=0.1)
    ax2.set_xlabel("decisions (turns)")
    ax2.set_ylabel("greedy policy's gap, %")
    ax2.set_title("validation (unseen scenarios)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(curve_png, dpi=110)


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
        if options.policy == "":
            raise ValueError(f"option policy: an empty path; leave it out to use {self.name}'s shipped policy")
        path = options.policy or self.default_policy()
        if options.policy is None and not Path(path).is_file():
            raise ValueError(f"{self.name}: its shipped policy {path} is missing; give option policy=PATH, or train it "
                             "(benchmarks/papers/train_offloading_policy.py)")
        policy = cached_policy(path)
        if policy.algorithm != self.name:
            raise ValueError(f"{self.name}: policy {str(path)!r} was trained as {policy.algorithm}; give it to solver "
                             f"{policy.algorithm!r}")
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
