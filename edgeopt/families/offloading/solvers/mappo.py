"""MAPPO for the offloading family, in one file (in the style of CleanRL's ppo.py): hyperparameters, networks,
value normalisation, rollouts, the PPO update, training, the policy file, and the two solvers that use a
trained policy (``mappo`` and ``ippo``).

The algorithm is that of the reference implementation, marlbenchmark/on-policy (Yu et al., "The Surprising
Effectiveness of PPO in Cooperative Multi-Agent Games", NeurIPS 2022), algorithm ``mappo`` (no recurrent
layer), with the defaults of its ``onpolicy/config.py`` (:class:`MAPPOConfig` lists them):

- one actor shared by every agent (user): LayerNorm of the input, Linear-ReLU-LayerNorm twice (64 units), a
  linear head over the actions (orthogonal init, gain sqrt(2) inside and 0.01 at the head, zero biases); the
  logits of unavailable actions set to -1e10 before the softmax;
- a centralised critic of the same shape on the agent-specific global state (the environment's ``state()``
  followed by the agent's own observation, the "agent-specific" input the MAPPO paper recommends);
  ``independent_critic=True`` gives IPPO: each agent's critic sees only its own observation;
- value normalisation by running mean and variance (ValueNorm, beta 0.99999), GAE (gamma 0.99, lambda 0.95),
  advantages normalised over the batch, PPO clip 0.2, clipped Huber value loss (delta 10), entropy 0.01,
  value-loss coefficient 1, 15 epochs on one mini-batch, gradient norm clipped at 10, Adam (lr 5e-4,
  eps 1e-5) for actor and critic;
- ``n_rollout_threads`` environments stepped together for ``episode_length`` steps per update; an agent with
  nothing to decide in a slot (it asks nothing: its only action is "idle") is inactive, as a dead agent in
  the reference (``active_masks``): left out of the policy and value losses.

Everything random is seeded from ``seed`` (torch, numpy, each environment, the action sampling and the
mini-batch order through their own generators) and training runs on one CPU thread with
``torch.use_deterministic_algorithms(True)``: the same seed gives the same policy file, bit for bit, on one
machine. torch is imported inside the functions that need it: ``import edgeopt`` does not load it.

**Policy file** (``torch.save``, read back with ``torch.load(..., weights_only=True)``): only tensors (the
actor's and critic's state dicts, the value normaliser's statistics) and a JSON header (family, algorithm,
the observation layout, the hyperparameters, the training seed and data, and the sha256 of the content). A
policy of another family or layout is refused with a ValueError that names what differs.

**Solvers** ``mappo`` and ``ippo``: per slot, every user's greedy action (the most probable available one)
under the policy (``policy``: a path, by default the one shipped in edgeopt/data/policies), taken as
observation.py says (a forbidden action, or an edge user whose model does not fit, is refused); then the
models the edge users need are loaded and the resources shared by ``allocation`` (the heuristics' stage
two). No training happens at solve time. Each takes only a policy trained by its own algorithm (a MAPPO
policy given to ``ippo`` is a ValueError, and the reverse).
"""
from __future__ import annotations

import csv
import dataclasses
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
    ACTIONS,
    LAYOUT,
    OBSERVATION,
    REFUSE,
    STATE,
    Loads,
    Slot,
)
from edgeopt.families.offloading.solvers.heuristics import _past, _result
from edgeopt.registry import register_solver
from edgeopt.result import relative_gap
from edgeopt.solver import Options, Solver, deadline

POLICIES = Path(__file__).resolve().parents[3] / "data" / "policies"
FORMAT = "edgeopt-policy"
FORMAT_VERSION = 1
FAMILY = "offloading"


# -- hyperparameters ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MAPPOConfig:
    """MAPPO's hyperparameters. The defaults are those of marlbenchmark/on-policy ``onpolicy/config.py``
    (algorithm ``mappo``), except the three marked as this problem's."""

    lr: float = 5e-4  # actor learning rate
    critic_lr: float = 5e-4
    opti_eps: float = 1e-5  # Adam's eps
    weight_decay: float = 0.0
    n_rollout_threads: int = 32  # environments stepped together
    episode_length: int = 200  # steps (slots) per environment per update
    ppo_epoch: int = 15
    num_mini_batch: int = 1
    clip_param: float = 0.2
    entropy_coef: float = 0.01
    value_loss_coef: float = 1.0
    max_grad_norm: float = 10.0
    gamma: float = 0.99
    gae_lambda: float = 0.95
    use_gae: bool = True
    use_huber_loss: bool = True
    huber_delta: float = 10.0
    use_clipped_value_loss: bool = True
    use_valuenorm: bool = True
    use_max_grad_norm: bool = True
    use_policy_active_masks: bool = True
    use_value_active_masks: bool = True
    use_linear_lr_decay: bool = False
    hidden_size: int = 64
    layer_N: int = 1
    use_feature_normalization: bool = True  # LayerNorm on the inputs
    use_orthogonal: bool = True
    use_ReLU: bool = True
    gain: float = 0.01  # of the action head
    use_centralized_V: bool = True  # False: IPPO
    # -- this problem's --
    reward: Literal["team", "difference"] = "team"  # the environment's reward (env.py)
    episode_slots: int = 25  # slots of a generated episode (instances: their own T)
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
        for name in ("n_rollout_threads", "episode_length", "ppo_epoch", "num_mini_batch", "hidden_size",
                     "episode_slots", "eval_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"hyperparameter {name}: must be >= 1, got {getattr(self, name)!r}")
        for name in ("lr", "critic_lr", "opti_eps", "clip_param", "max_grad_norm", "huber_delta", "gain"):
            if not getattr(self, name) > 0:
                raise ValueError(f"hyperparameter {name}: must be > 0, got {getattr(self, name)!r}")
        for name in ("weight_decay", "entropy_coef", "value_loss_coef", "layer_N"):
            if getattr(self, name) < 0:
                raise ValueError(f"hyperparameter {name}: must be >= 0, got {getattr(self, name)!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"hyperparameter {name}: must be between 0 and 1, got {getattr(self, name)!r}")
        if self.reward not in ("team", "difference"):
            raise ValueError(f"hyperparameter reward: must be 'team' or 'difference', got {self.reward!r}")


def make_config(independent_critic: bool = False, **overrides) -> MAPPOConfig:
    """The defaults with ``overrides``; an unknown name is a ValueError naming it."""
    known = {f.name for f in dataclasses.fields(MAPPOConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if independent_critic:
        overrides["use_centralized_V"] = False
    return MAPPOConfig(**overrides)


# -- networks (the reference's MLPBase + ACTLayer / value head) ---------------------------------------------
def _network(in_dim: int, out_dim: int, out_gain: float, cfg: MAPPOConfig):
    import torch
    from torch import nn

    def init(layer, gain):
        if cfg.use_orthogonal:
            nn.init.orthogonal_(layer.weight, gain=gain)
        else:
            nn.init.xavier_uniform_(layer.weight, gain=gain)
        nn.init.zeros_(layer.bias)
        return layer

    act, gain = (nn.ReLU, nn.init.calculate_gain("relu")) if cfg.use_ReLU else (nn.Tanh, nn.init.calculate_gain("tanh"))
    layers: list = [nn.LayerNorm(in_dim)] if cfg.use_feature_normalization else []
    layers += [init(nn.Linear(in_dim, cfg.hidden_size), gain), act(), nn.LayerNorm(cfg.hidden_size)]
    for _ in range(cfg.layer_N):
        layers += [init(nn.Linear(cfg.hidden_size, cfg.hidden_size), gain), act(), nn.LayerNorm(cfg.hidden_size)]
    layers.append(init(nn.Linear(cfg.hidden_size, out_dim), out_gain))
    return torch.nn.Sequential(*layers)


def critic_input_size(cfg: MAPPOConfig) -> int:
    return STATE + OBSERVATION if cfg.use_centralized_V else OBSERVATION


def make_networks(cfg: MAPPOConfig):
    """(actor, critic): the actor maps an observation to action logits, the critic its input to a value."""
    actor = _network(OBSERVATION, ACTIONS, cfg.gain, cfg)
    critic = _network(critic_input_size(cfg), 1, 1.0, cfg)
    return actor, critic


def masked_logits(actor, obs, mask):
    """The actor's logits with those of unavailable actions set to -1e10 (as the reference does)."""
    return actor(obs).masked_fill(~mask, -1e10)


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


def save_policy(path, *, actor, critic, value_norm: ValueNorm, cfg: MAPPOConfig, training: dict) -> dict:
    """Write a policy file (tensors and a JSON header, atomically); returns the header."""
    import torch

    tensors = {"actor": {k: v.detach().clone() for k, v in actor.state_dict().items()},
               "critic": {k: v.detach().clone() for k, v in critic.state_dict().items()},
               "value_norm": value_norm.state_dict()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "family": FAMILY,
              "algorithm": "mappo" if cfg.use_centralized_V else "ippo", "layout": dict(LAYOUT),
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
    """A loaded policy: its header, hyperparameters and actor (eval mode)."""

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


#: The largest policy file read (the shipped ones are about 0.25 MB; hidden_size 1024 gives about 20 MB).
MAX_POLICY_BYTES = 64 * 1024 * 1024


def load_policy(path) -> Policy:
    """Read a policy file; ValueError when it is not one, or when its family or layout differs (named)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"policy {str(path)!r}: no such file")
    size = path.stat().st_size
    if size > MAX_POLICY_BYTES:  # before reading: a policy of this network is a few hundred kB
        raise ValueError(f"policy {str(path)!r} is {size:,} bytes; an edgeopt policy file is at most "
                         f"{MAX_POLICY_BYTES:,}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (not a torch file, a damaged one, or one holding more than tensors)
        raise ValueError(f"policy {str(path)!r} is not an edgeopt policy file (expected one written by "
                         f"`edgeopt train`; PyTorch cannot read it: {type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("header"), str):
        # a bad file, not a bad argument type: ValueError (exit 2 on the command line)
        raise ValueError(f"policy {str(path)!r} is not an edgeopt policy file: no JSON header")  # noqa: TRY004
    try:
        header = json.loads(data["header"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"policy {str(path)!r}: its header is not JSON ({exc})") from None
    where = f"policy {str(path)!r} cannot be used here: "
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise ValueError(where + _differs("format", [header.get("format"), header.get("format_version")],
                                          [FORMAT, FORMAT_VERSION]))
    if header.get("family") != FAMILY:
        raise ValueError(where + _differs("family", header.get("family"), FAMILY))
    layout = header.get("layout") or {}
    for key in LAYOUT:
        if layout.get(key) != LAYOUT[key]:
            what = "observation layout version" if key == "version" else f"observation layout's {key}"
            raise ValueError(where + _differs(what, layout.get(key), LAYOUT[key]))
    tensors = {k: data.get(k) for k in ("actor", "critic", "value_norm")}
    if not all(isinstance(v, dict) for v in tensors.values()):
        raise ValueError(f"policy {str(path)!r}: missing actor, critic or value_norm tensors")
    if _tensors_hash(header, tensors) != header.get("content_hash"):
        raise ValueError(f"policy {str(path)!r}: its content does not match its content hash (a damaged or edited "
                         "file)")
    try:
        cfg = MAPPOConfig(**header["hyperparameters"])
        actor, critic = make_networks(cfg)
        actor.load_state_dict(tensors["actor"])
        critic.load_state_dict(tensors["critic"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise ValueError(f"policy {str(path)!r}: its networks do not load: {exc}") from None
    norm = ValueNorm()
    norm.load_state_dict(tensors["value_norm"])
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


# -- acting ------------------------------------------------------------------------------------------------
def greedy_choices(actor, inst, stop: float | None = None) -> tuple[list[np.ndarray], int]:
    """Every slot's choices (per requesting user an option index, -1 refused) under the actor's greedy actions,
    and how many slots were decided before ``stop`` (the rest refused). Slot by slot: the observation of a
    slot holds the loads the slot before left."""
    import torch

    chosen, last, done = [], None, 0
    threads = torch.get_num_threads()
    # One thread (restored after): a slot's batch of users is small, and idle threads spinning on a busy
    # machine cost more than they help (measured for 100 users: 0.1 ms on one thread, up to 15 ms on two).
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for t in range(inst.slots):
                slot = Slot(inst, t, last)
                if _past(stop):
                    chosen.append(np.full(slot.n, -1, dtype=np.int64))
                    continue
                logits = masked_logits(actor, torch.from_numpy(slot.observations()), torch.from_numpy(slot.mask))
                c, _ = slot.decide(logits.argmax(dim=1).numpy())
                chosen.append(c)
                last = slot.loads(c)
                done += 1
    finally:
        torch.set_num_threads(threads)
    return chosen, done


# -- training ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainReport:
    """What :func:`train` wrote and measured."""

    policy: Path
    curve_csv: Path
    curve_png: Path
    header: dict
    env_steps: int
    updates: int
    seconds: float
    final_validation_gap: float | None  # relative to greedy-offload, on the validation instances


def _env_specs(instances: Sequence, users: Sequence[int], edges: Sequence[int], generator: dict | None) -> list:
    """What the rollout threads run, in turn: each instance, then one generated stream per user count (the
    agents of a stream are fixed); ``edges`` and list-valued generator parameters are drawn per episode."""
    specs: list = [("instance", inst) for inst in instances]
    extra = dict(generator or {})
    for key in ("users", "edges", "slots", "seed", "name"):
        if key in extra:
            raise ValueError(f"generator parameter {key!r} is given by its own argument or by the trainer")
    for u in users:
        specs.append(("generator", {**extra, "users": int(u), "edges": [int(e) for e in edges] or [2]}))
    if not specs:
        raise ValueError("give instance files or generator parameters (users) to train on")
    return specs


def _validation(specs: list, seed: int, slots: int) -> list:
    """Instances the training never draws (generator seeds from 2**31 up; training draws below 2**31 - 1), one
    per user count and edge count, and the training instances themselves (at most 12 in all)."""
    from edgeopt.families.offloading.generate import generate

    out = [what for kind, what in specs if kind == "instance"]
    for kind, what in specs:
        if kind != "generator":
            continue
        for e in what["edges"]:
            params = {k: (v[len(out) % len(v)] if k != "models" and isinstance(v, (list, tuple)) else v)
                      for k, v in what.items()}
            params["edges"] = e
            at = 2 ** 31 + 7919 * seed + len(out)
            try:
                out.append(generate(**params, slots=min(slots, 5), seed=at))
            except ValueError as exc:
                shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
                raise ValueError(f"the generator parameters {shown} (seed {at}) gave an invalid instance; change "
                                 "them: " + "; ".join(line.strip() for line in str(exc).splitlines())) from None
    step = max(1, len(out) // 12)
    return out[::step][:12]


def _objective(inst, chosen) -> float:
    from edgeopt.families.offloading.plans import slot_value

    return float(sum(slot_value(inst.options(t), c) for t, c in enumerate(chosen)))


def train(instances: Sequence = (), *, users: Sequence[int] = (), edges: Sequence[int] = (2,),
          generator: dict | None = None, steps: int = 200_000, seed: int = 1, output="offloading-mappo.pt",
          independent_critic: bool = False, allocation: str = "closed", hyperparameters: dict | None = None,
          progress: bool = True) -> TrainReport:
    """Train a MAPPO (or, with ``independent_critic``, IPPO) policy and write it with its learning curve.

    Arguments, as ``edgeopt train offloading`` takes them (one option per argument)::

        edgeopt train offloading [INSTANCE ...]   instances: paths (or Instances); an episode is one
                                                  instance's slots
            [--users 10,30,100]                   users: one generated stream per count (its agents)
            [--edges 1,2,4]                       edges: drawn per generated episode (default 2)
            [--generate KEY=V[,V...] ...]         generator: other generate() parameters (max_configs,
                                                  cloud, cell_radius_m, ...); a list is drawn per episode
            --steps N                             steps: environment steps (slots), all threads together
            --seed S                              seed: every random source
            -o PATH                               output: the policy file; the learning curve goes to PATH
                                                  with the suffixes .csv and .png
            [--ippo]                              independent_critic: IPPO instead of MAPPO
            [--allocation closed|slsqp|equal]     allocation: the allocation stage of the reward
            [--set NAME=VALUE ...]                hyperparameters: MAPPOConfig fields (reward, gamma, ...)
            [--quiet]                             progress=False: no progress bar

    The rollout threads take the instances and the generated streams in turn. The learning curve (CSV) has
    per update the environment steps, seconds, steps per second, the rollout's mean objective per request,
    the losses, entropy, gradient norms, mean ratio, approximate KL, clip fraction and the value's explained
    variance, and every ``eval_interval`` updates the greedy policy's mean gap to greedy-offload on validation
    instances the training never draws; the PNG plots the objective and that gap. A bad argument is a
    ValueError naming it. Returns a :class:`TrainReport`.
    """
    import torch
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    from edgeopt.families.offloading.env import OffloadingEnv
    from edgeopt.families.offloading.solvers.heuristics import GreedyOffload
    from edgeopt.io import load

    cfg = make_config(independent_critic, **(hyperparameters or {}))
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    loaded = [load(p) if isinstance(p, (str, os.PathLike)) else p for p in instances]
    for inst in loaded:
        if getattr(inst, "kind", None) != FAMILY:
            raise ValueError(f"{getattr(inst, 'name', inst)!r} is not an offloading instance")
    specs = _env_specs(loaded, users, edges, generator)
    output = Path(output)
    curve_csv, curve_png = output.with_suffix(".csv"), output.with_suffix(".png")
    if output.suffix.lower() in (".csv", ".png"):
        raise ValueError(f"{output}: the policy file cannot end in .csv or .png (its learning curve goes there); "
                         "name it .pt")
    threads = cfg.n_rollout_threads
    envs = []
    for rank in range(threads):
        kind, what = specs[rank % len(specs)]
        env = (OffloadingEnv(what, allocation=allocation, reward=cfg.reward) if kind == "instance" else
               OffloadingEnv(generator=what, episode_slots=cfg.episode_slots, allocation=allocation,
                             reward=cfg.reward))
        envs.append(env)
    training = {"seed": int(seed), "steps": int(steps), "allocation": allocation,
                "instances": [{"name": i.name, "hash": i.hash} for i in loaded],
                "generator": [w for k, w in specs if k == "generator"],
                "episode_slots": cfg.episode_slots}
    validation = _validation(specs, int(seed), cfg.episode_slots)
    greedy_values = [GreedyOffload().solve(inst).objective for inst in validation]

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
                result = _train_loop(cfg, envs, int(steps), int(seed), validation, greedy_values, curve_csv, tqdm,
                                     progress, started)
            except BaseException:  # a bad generated episode, an interruption: no half-written learning curve
                curve_csv.unlink(missing_ok=True)
                raise
            actor, critic, value_norm, env_steps, updates, last_gap = result
            header = save_policy(output, actor=actor, critic=critic, value_norm=value_norm, cfg=cfg,
                                 training=training)
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)
    _plot_curve(curve_csv, curve_png, header["algorithm"])
    return TrainReport(output, curve_csv, curve_png, header, env_steps, updates, time.perf_counter() - started,
                       last_gap)


CURVE_COLUMNS = ("update", "env_steps", "seconds", "steps_per_second", "objective_per_request", "value_loss",
                 "policy_loss", "entropy", "actor_grad_norm", "critic_grad_norm", "ratio", "approx_kl", "clip_fraction",
                 "explained_variance", "validation_gap_to_greedy")
#: The columns _ppo_update measures.
UPDATE_COLUMNS = CURVE_COLUMNS[5:14]


def _train_loop(cfg: MAPPOConfig, envs: list, steps: int, seed: int, validation: list, greedy_values: list,
                curve_csv: Path, tqdm, progress: bool, started: float):
    import torch

    gen = torch.Generator().manual_seed(seed)  # action sampling and mini-batch order
    actor, critic = make_networks(cfg)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.lr, eps=cfg.opti_eps, weight_decay=cfg.weight_decay)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, eps=cfg.opti_eps,
                                  weight_decay=cfg.weight_decay)
    value_norm = ValueNorm()
    sizes = [e.num_users for e in envs]
    N, L = sum(sizes), cfg.episode_length
    per_update = L * len(envs)
    updates = max(1, math.ceil(steps / per_update))

    def observe(rank):
        obs, mask = envs[rank].reset_arrays(seed + 1000 * rank)
        return obs, mask, envs[rank].state()

    current = [observe(r) for r in range(len(envs))]

    def batch_now():
        obs = np.concatenate([c[0] for c in current])
        mask = np.concatenate([c[1] for c in current])
        state = np.concatenate([np.repeat(c[2][None, :], n, axis=0) for c, n in zip(current, sizes)])
        return obs, mask, state

    def critic_in(obs, state):
        return np.concatenate([state, obs], axis=1) if cfg.use_centralized_V else obs

    buf_obs = np.zeros((L, N, OBSERVATION), np.float32)
    buf_cin = np.zeros((L + 1, N, critic_input_size(cfg)), np.float32)
    buf_mask = np.zeros((L, N, ACTIONS), bool)
    buf_act = np.zeros((L, N), np.int64)
    buf_logp = np.zeros((L, N), np.float32)
    buf_val = np.zeros((L + 1, N), np.float32)  # normalised, as the critic outputs them
    buf_rew = np.zeros((L, N), np.float32)
    buf_alive = np.ones((L + 1, N), np.float32)  # 0 after an episode ended (the reference's masks)
    buf_active = np.zeros((L, N), np.float32)

    env_steps, last_gap = 0, None
    with (open(curve_csv, "w", newline="") as curve,
          tqdm(total=updates * per_update, unit="slot", disable=not progress, desc=f"training {FAMILY}") as bar):
        writer = csv.writer(curve)
        writer.writerow(CURVE_COLUMNS)
        for update in range(1, updates + 1):
            if cfg.use_linear_lr_decay:
                frac = 1.0 - (update - 1.0) / updates
                actor_opt.param_groups[0]["lr"] = frac * cfg.lr
                critic_opt.param_groups[0]["lr"] = frac * cfg.critic_lr
            objective_sum, requests = 0.0, 0
            actor.eval()
            critic.eval()
            for step in range(L):
                obs, mask, state = batch_now()
                cin = critic_in(obs, state)
                with torch.no_grad():
                    logits = masked_logits(actor, torch.from_numpy(obs), torch.from_numpy(mask))
                    logp_all = torch.log_softmax(logits, dim=1)
                    action = torch.multinomial(logp_all.exp(), 1, generator=gen).squeeze(1)
                    logp = logp_all.gather(1, action[:, None]).squeeze(1)
                    value = critic(torch.from_numpy(cin)).squeeze(1)
                buf_obs[step], buf_cin[step], buf_mask[step] = obs, cin, mask
                buf_act[step], buf_logp[step], buf_val[step] = action.numpy(), logp.numpy(), value.numpy()
                buf_active[step] = obs[:, 0]  # asks: the agent has something to decide
                actions = action.numpy()
                start = 0
                for rank, env in enumerate(envs):
                    n = sizes[rank]
                    nxt_obs, nxt_mask, rew, done, info = env.step_arrays(actions[start:start + n])
                    buf_rew[step, start:start + n] = rew
                    objective_sum += info["objective"]
                    requests += info["chosen"].size
                    if done:
                        buf_alive[step + 1, start:start + n] = 0.0
                        current[rank] = env.reset_arrays()[0:2] + (env.state(),)
                    else:
                        buf_alive[step + 1, start:start + n] = 1.0
                        current[rank] = (nxt_obs, nxt_mask, env.state())
                    start += n
                env_steps += len(envs)
                bar.update(len(envs))
            obs, mask, state = batch_now()
            buf_cin[L] = critic_in(obs, state)
            with torch.no_grad():
                buf_val[L] = critic(torch.from_numpy(buf_cin[L])).squeeze(1).numpy()
            info = _ppo_update(cfg, actor, critic, actor_opt, critic_opt, value_norm, gen, buf_obs, buf_cin,
                               buf_mask, buf_act, buf_logp, buf_val, buf_rew, buf_alive, buf_active)
            buf_alive[0] = buf_alive[L]
            gap = ""
            if update % cfg.eval_interval == 0 or update == updates:
                actor.eval()
                gaps = [relative_gap(_objective(inst, greedy_choices(actor, inst)[0]), g, "max")
                        for inst, g in zip(validation, greedy_values)]
                last_gap = float(np.mean(gaps))
                gap = f"{last_gap:.6g}"
                bar.set_postfix(gap_to_greedy=f"{100 * last_gap:.2f}%")
            elapsed = time.perf_counter() - started
            writer.writerow([update, env_steps, f"{elapsed:.1f}", f"{env_steps / max(elapsed, 1e-9):.1f}",
                             f"{objective_sum / max(requests, 1):.6g}", *(f"{info[k]:.6g}" for k in UPDATE_COLUMNS),
                             gap])
            curve.flush()
    actor.eval()
    critic.eval()
    return actor, critic, value_norm, env_steps, updates, last_gap


def _ppo_update(cfg, actor, critic, actor_opt, critic_opt, value_norm, gen, buf_obs, buf_cin, buf_mask, buf_act,
                buf_logp, buf_val, buf_rew, buf_alive, buf_active) -> dict:
    """GAE on the denormalised values, then ``ppo_epoch`` passes over ``num_mini_batch`` mini-batches (the
    reference's R_MAPPO.train / ppo_update / cal_value_loss)."""
    import torch
    from torch import nn

    L = buf_rew.shape[0]
    values = value_norm.denormalize(torch.from_numpy(buf_val)).numpy() if cfg.use_valuenorm else buf_val
    returns = np.zeros_like(buf_rew)
    if cfg.use_gae:
        gae = np.zeros(buf_rew.shape[1], np.float32)
        for t in reversed(range(L)):
            delta = buf_rew[t] + cfg.gamma * values[t + 1] * buf_alive[t + 1] - values[t]
            gae = delta + cfg.gamma * cfg.gae_lambda * buf_alive[t + 1] * gae
            returns[t] = gae + values[t]
    else:
        ret = values[L]
        for t in reversed(range(L)):
            ret = buf_rew[t] + cfg.gamma * buf_alive[t + 1] * ret
            returns[t] = ret
    adv = returns - values[:L]
    active = buf_active > 0
    residual, spread = (returns - values[:L])[active], returns[active]
    explained = float(1.0 - residual.var() / spread.var()) if active.sum() > 1 and spread.var() > 0 else float("nan")
    a = adv[active] if active.any() else adv.ravel()
    adv = (adv - a.mean()) / (a.std() + 1e-5)

    flat = lambda x: torch.from_numpy(np.ascontiguousarray(x.reshape(-1, *x.shape[2:])))
    obs, cin, mask, act = flat(buf_obs), flat(buf_cin[:L]), flat(buf_mask), flat(buf_act)
    old_logp, old_val, ret, advt = flat(buf_logp), flat(buf_val[:L]), flat(returns), flat(adv.astype(np.float32))
    alive = flat(buf_active if cfg.use_policy_active_masks else np.ones_like(buf_active))
    alive_v = flat(buf_active if cfg.use_value_active_masks else np.ones_like(buf_active))
    B = obs.shape[0]
    size = B // cfg.num_mini_batch
    sums = dict.fromkeys(UPDATE_COLUMNS, 0.0)

    def huber(e):
        d = cfg.huber_delta
        return torch.where(e.abs() <= d, e ** 2 / 2, d * (e.abs() - d / 2))

    actor.train()
    critic.train()
    for _ in range(cfg.ppo_epoch):
        order = torch.randperm(B, generator=gen)
        for i in range(cfg.num_mini_batch):
            idx = order[i * size:(i + 1) * size]
            w, wv = alive[idx], alive_v[idx]
            logits = masked_logits(actor, obs[idx], mask[idx])
            logp_all = torch.log_softmax(logits, dim=1)
            logp = logp_all.gather(1, act[idx][:, None]).squeeze(1)
            entropy_each = -(logp_all.exp() * logp_all).sum(dim=1)
            denom = w.sum().clamp(min=1.0)
            entropy = (entropy_each * w).sum() / denom
            ratio = torch.exp(logp - old_logp[idx])
            surr1 = ratio * advt[idx]
            surr2 = torch.clamp(ratio, 1.0 - cfg.clip_param, 1.0 + cfg.clip_param) * advt[idx]
            policy_loss = -(torch.min(surr1, surr2) * w).sum() / denom
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
            value_loss = (vloss * wv).sum() / wv.sum().clamp(min=1.0)
            critic_opt.zero_grad()
            (value_loss * cfg.value_loss_coef).backward()
            if cfg.use_max_grad_norm:
                critic_norm = nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)
            else:
                critic_norm = torch.norm(torch.stack([p.grad.norm() for p in critic.parameters()]))
            critic_opt.step()
            with torch.no_grad():
                log_ratio = logp - old_logp[idx]
                approx_kl = (((ratio - 1.0) - log_ratio) * w).sum() / denom  # CleanRL's estimator
                clipped_share = (((ratio - 1.0).abs() > cfg.clip_param).float() * w).sum() / denom
            for key, v in (("value_loss", value_loss), ("policy_loss", policy_loss), ("entropy", entropy),
                           ("actor_grad_norm", actor_norm), ("critic_grad_norm", critic_norm),
                           ("ratio", ratio.mean()), ("approx_kl", approx_kl), ("clip_fraction", clipped_share)):
                sums[key] += float(v.detach())
    n = cfg.ppo_epoch * cfg.num_mini_batch
    out = {k: v / n for k, v in sums.items()}
    out["explained_variance"] = explained
    return out


def _plot_curve(curve_csv: Path, curve_png: Path, algorithm: str) -> None:
    """The learning curve as a PNG (matplotlib's Figure API, never pyplot)."""
    from matplotlib.figure import Figure

    with open(curve_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    x = [int(r["env_steps"]) for r in rows]
    fig = Figure(figsize=(9, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(x, [float(r["objective_per_request"]) for r in rows], lw=1.2)
    ax1.set_xlabel("environment steps (slots)")
    ax1.set_ylabel("objective per request (sampled actions)")
    ax1.set_title(f"{algorithm}: rollouts")
    ev = [(xx, 100 * float(r["validation_gap_to_greedy"])) for xx, r in zip(x, rows) if r["validation_gap_to_greedy"]]
    if ev:
        ax2.plot([e[0] for e in ev], [e[1] for e in ev], marker="o", ms=3, lw=1.2)
    ax2.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax2.set_xlabel("environment steps (slots)")
    ax2.set_ylabel("gap to greedy-offload, % (greedy actions)")
    ax2.set_title("validation (unseen generator seeds)")
    fig.tight_layout()
    fig.savefig(curve_png, dpi=110)


# -- the solvers --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyOptions(Options):
    policy: str | None = None  # a policy file; None: the one shipped with edgeopt
    allocation: Literal["closed", "slsqp", "equal"] = "closed"


class _PolicySolver(Solver):
    family, Options = "offloading", PolicyOptions
    requires = ("torch",)
    shipped = ""

    @classmethod
    def default_policy(cls) -> Path:
        return POLICIES / cls.shipped

    def run(self, instance, options, *, time_limit, seed, started):
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
        chosen, done = greedy_choices(policy.actor, instance, stop)
        # The decision itself (option tables, observations, the actor, the repair), apart from the allocation
        # stage and the plan's pricing that every heuristic shares.
        decision = {"decision_seconds": time.perf_counter() - built, "decision_cpu_seconds": time.process_time() - cpu}
        what = f"{policy.algorithm} policy's greedy actions"
        if done < instance.slots:
            what += f", stopped by the time limit after {done} of {instance.slots} slot(s) (the rest refused)"
        return _result(self, instance, chosen, options.allocation, started=started, built=built, stop=stop, what=what,
                       extra={"policy": policy.path, "policy_hash": policy.header["content_hash"],
                              "algorithm": policy.algorithm, **decision})


@register_solver
class MAPPOPolicy(_PolicySolver):
    """MAPPO policy (shared actor, centralised critic, trained on generated slots): each user's greedy action,
    then the allocation stage; no training at solve time."""

    name, shipped = "mappo", "offloading-mappo.pt"


@register_solver
class IPPOPolicy(_PolicySolver):
    """IPPO policy (shared actor, each agent's critic on its own observation): each user's greedy action, then
    the allocation stage; no training at solve time."""

    name, shipped = "ippo", "offloading-ippo.pt"


__all__ = [
    "REFUSE",
    "IPPOPolicy",
    "Loads",
    "MAPPOConfig",
    "MAPPOPolicy",
    "Policy",
    "TrainReport",
    "ValueNorm",
    "greedy_choices",
    "load_policy",
    "make_config",
    "make_networks",
    "save_policy",
    "train",
]
