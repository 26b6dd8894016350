"""The learning machinery every learned solver of edgeopt shares, below the families (in the style of CleanRL's
ppo.py, one file): MAPPO's hyperparameters, the order-invariant option scorer, value normalisation, GAE, the
PPO update, the training loop with its learning curve, and the policy file. A family supplies what is its
own: the option rows an agent scores and their features (offloading: observation.py; serving:
families/serving/board.py), how a rollout is collected, how its greedy policy is validated, and the solvers.

**The scorer.** Agents that act at the same time ("movers") each score their own option rows with one network
shared by all agents: every row's features go through an MLP; the rows' embeddings are max-pooled over the
mover's allowed rows and each row is scored from its embedding and that pool (a permutation-invariant set
scorer: the order of the rows changes nothing and any number of rows is taken). The scores are the logits of
a categorical distribution over the mover's allowed rows, clamped to +-``LOGIT_BOUND`` before the softmax so
that every allowed row keeps a positive probability; the greedy decision is the row of the highest logit (the
first in the family's canonical row order on a tie). Rows arrive flat: ``x`` (N, row_input), ``mover`` (N,)
each row's mover, ``allowed`` (N,).

**The update** is that of the reference implementation, marlbenchmark/on-policy (Yu et al., "The Surprising
Effectiveness of PPO in Cooperative Multi-Agent Games", NeurIPS 2022), algorithm ``mappo``, with the
defaults of its ``onpolicy/config.py`` where they apply (:class:`MAPPOConfig`): value normalisation
(ValueNorm), advantages normalised over the batch, PPO clip 0.2, clipped Huber value loss, entropy 0.01,
orthogonal initialisation, gradient clipping at 10, Adam (lr 5e-4, eps 1e-5), LayerNorm on the inputs. MAPPO
and IPPO differ only in what the family feeds the critic (the global state beside the mover's view, or the
mover's view alone).

**Returns.** GAE along trajectories the family defines: every collected move names the next move of its
trajectory (``next``, -1 at its end) and, optionally, the discount to it (``discount``; ``gamma`` when absent).

**Policy file** (``torch.save``, read back with ``torch.load(..., weights_only=True)``): only tensors (the
actor's and critic's state dicts, the value normaliser's statistics) and a JSON header (family, algorithm,
the layout of the family's features, the hyperparameters, the training data, the sha256 of the content). A
policy of another family or layout is refused with a ValueError that names what differs; so is a file whose
header or tensors are not what edgeopt writes, before any network is built from it.

Everything random is seeded and training runs on one CPU thread with ``torch.use_deterministic_algorithms``
(:func:`deterministic`): the same seed gives the same policy file, bit for bit, on one machine. torch is
imported inside the functions that need it: ``import edgeopt`` does not load it.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

FORMAT = "edgeopt-policy"
FORMAT_VERSION = 2
#: Logits are clamped to this before the softmax: every allowed row keeps a probability of at least
#: exp(-2 LOGIT_BOUND) / rows.
LOGIT_BOUND = 40.0


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
    reward: Literal["change", "regret", "shaped"] = "change"  # what a move is rewarded with (the family's solver)
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
        if self.reward not in ("change", "regret", "shaped"):
            raise ValueError(f"hyperparameter reward: must be 'change', 'regret' or 'shaped', got {self.reward!r}")
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
        """Scores the rows of several movers, given flat: ``x`` (N, row_input), ``mover`` (N,) each row's mover
        in 0..movers-1, ``allowed`` (N,) bool. An MLP embeds every row, the embeddings of each mover's allowed
        rows are max-pooled, and a second MLP scores each row from its embedding and its mover's pool: (N,)
        logits (forbidden rows are for the caller to mask)."""

        def __init__(self, cfg: MAPPOConfig, row_input: int):
            super().__init__()
            act, gain = ((nn.ReLU, nn.init.calculate_gain("relu")) if cfg.use_ReLU
                         else (nn.Tanh, nn.init.calculate_gain("tanh")))
            self.embed = _mlp(row_input, cfg, normalise_input=True)
            self.mix = nn.Sequential(_init(nn.Linear(2 * cfg.hidden_size, cfg.hidden_size), gain, cfg), act(),
                                     nn.LayerNorm(cfg.hidden_size))
            self.head = _init(nn.Linear(cfg.hidden_size, 1), cfg.gain, cfg)

        def forward(self, x, mover, allowed, movers: int):
            h = self.embed(x)
            pool = torch.full((movers, h.shape[1]), float("-inf"), dtype=h.dtype).scatter_reduce(
                0, mover[:, None].expand_as(h), h.masked_fill(~allowed[:, None], float("-inf")), reduce="amax")
            return self.head(self.mix(torch.cat([h, pool[mover]], dim=1))).squeeze(1)

    return Scorer


def make_networks(cfg: MAPPOConfig, row_input: int, critic_input: int):
    """(actor, critic): the actor scores flat rows of ``row_input`` features (``Scorer``), the critic maps its
    input (B, critic_input) to a value."""
    from torch import nn

    actor = _scorer_class()(cfg, row_input)
    critic = nn.Sequential(*_mlp(critic_input, cfg, normalise_input=True),
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


class NumpyScorer:
    """The actor's forward pass in numpy (float32), for deciding: a tick's batch is tens of rows, where
    PyTorch's per-call overhead is most of the time. Built from a ``Scorer``'s modules (LayerNorm, Linear, ReLU
    or Tanh, in order); ``logits(x, mover, allowed, movers)`` returns what the Scorer's forward returns, to
    float32 rounding (tests/test_rl.py compares them)."""

    def __init__(self, actor):
        from torch import nn

        def layers(seq):
            out = []
            for mod in seq:
                if isinstance(mod, nn.LayerNorm):
                    out.append(("norm", mod.weight.detach().numpy().copy(), mod.bias.detach().numpy().copy(),
                                float(mod.eps)))
                elif isinstance(mod, nn.Linear):
                    out.append(("linear", mod.weight.detach().numpy().T.copy(), mod.bias.detach().numpy().copy()))
                elif isinstance(mod, nn.ReLU):
                    out.append(("relu",))
                elif isinstance(mod, nn.Tanh):
                    out.append(("tanh",))
                else:
                    raise TypeError(f"NumpyScorer: an unexpected layer {type(mod).__name__}")
            return out

        self.embed, self.mix, self.head = layers(actor.embed), layers(actor.mix), layers([actor.head])

    @staticmethod
    def _run(layers, x):
        for layer in layers:
            if layer[0] == "linear":
                x = x @ layer[1] + layer[2]
            elif layer[0] == "relu":
                x = np.maximum(x, 0.0)
            elif layer[0] == "tanh":
                x = np.tanh(x)
            else:
                n = np.float32(x.shape[1])
                centred = x - x.sum(axis=1, keepdims=True) / n
                var = (centred * centred).sum(axis=1, keepdims=True) / n
                x = centred / np.sqrt(var + np.float32(layer[3])) * layer[1] + layer[2]
        return x

    def logits(self, x: np.ndarray, mover: np.ndarray, allowed: np.ndarray, movers: int) -> np.ndarray:
        h = self._run(self.embed, np.asarray(x, dtype=np.float32))
        pool = np.full((movers, h.shape[1]), -np.inf, dtype=np.float32)
        np.maximum.at(pool, mover[allowed], h[allowed])
        return self._run(self.head, self._run(self.mix, np.concatenate([h, pool[mover]], axis=1)))[:, 0]

    def greedy_rows(self, x, mover, allowed, movers: int) -> np.ndarray:
        """Each mover's allowed row of the highest logit (the first on a tie)."""
        z = self.logits(x, mover, allowed, movers).astype(np.float64)
        return first_best(np.where(allowed, z, -np.inf), mover, movers)


def tensors(rows: dict):
    """(features, mover, allowed) of a family's rows as torch tensors (no copy)."""
    import torch

    return (torch.from_numpy(rows["features"]), torch.from_numpy(rows["mover"]),
            torch.from_numpy(rows["allowed"]))


def sample_rows(logp_rows: np.ndarray, mover: np.ndarray, movers: int, gen) -> np.ndarray:
    """One row per mover drawn from the policy by the Gumbel-max trick (exact; forbidden rows have
    log-probability -1e9 and are never drawn), with ``gen`` (a torch Generator) as the random source."""
    import torch

    uniform = torch.rand(logp_rows.size, generator=gen, dtype=torch.float64).numpy()
    gumbel = -np.log(-np.log(np.clip(uniform, 1e-300, 1.0 - 1e-16)))
    return first_best(logp_rows + gumbel, mover, movers)


@contextlib.contextmanager
def single_thread():
    """torch on one thread inside the block (restored after): a decision's batch is small, and idle threads
    spinning on a busy machine cost more than they help."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.set_num_threads(threads)


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



# -- returns and the update ---------------------------------------------------------------------------------
def returns(cfg: MAPPOConfig, data: dict, value_norm: ValueNorm) -> tuple[np.ndarray, np.ndarray]:
    """GAE along each trajectory (``data["next"]``: the index of the next move of the same trajectory, later
    in the batch, or -1; ``data["discount"]``, if given: the discount to it, else ``gamma``); (returns,
    advantages)."""
    import torch

    v = data["value"]
    values = value_norm.denormalize(torch.from_numpy(v)).numpy() if cfg.use_valuenorm else v
    nxt = data["next"]
    discount = data.get("discount")
    adv = np.zeros_like(values)
    for i in range(values.size - 1, -1, -1):  # a move's next move comes later in the batch
        j = nxt[i]
        g = cfg.gamma if discount is None else float(discount[i])
        following = values[j] if j >= 0 else 0.0
        delta = data["reward"][i] + g * following - values[i]
        adv[i] = delta + (g * cfg.gae_lambda * adv[j] if j >= 0 else 0.0)
    return adv + values, adv


def next_of(trajectory: np.ndarray) -> np.ndarray:
    """Per move the index of the next move of the same trajectory (-1: its last), moves in batch order."""
    nxt = np.full(trajectory.size, -1, dtype=np.int64)
    last: dict[int, int] = {}
    for i in range(trajectory.size - 1, -1, -1):
        nxt[i] = last.get(int(trajectory[i]), -1)
        last[int(trajectory[i])] = i
    return nxt


#: The columns :func:`ppo_update` measures.
UPDATE_COLUMNS = ("value_loss", "policy_loss", "entropy", "actor_grad_norm", "critic_grad_norm", "ratio",
                  "approx_kl", "clip_fraction", "explained_variance")


def _minibatches(cfg, counts: np.ndarray, gen):
    """``ppo_epoch`` passes of ``num_mini_batch`` mini-batches of the moves in a random order (``gen``): per
    mini-batch its moves (a sorted tensor), their flat rows (numpy and tensor) and each row's mover in it."""
    import torch

    N = counts.size
    row_start = np.cumsum(counts) - counts
    size = max(1, N // cfg.num_mini_batch)
    for _ in range(cfg.ppo_epoch):
        order = torch.randperm(N, generator=gen)
        for i in range(cfg.num_mini_batch):
            idx = torch.sort(order[i * size:(i + 1) * size]).values
            ids = idx.numpy()
            n_rows = counts[ids]
            rows = np.repeat(row_start[ids], n_rows) + (np.arange(n_rows.sum())
                                                        - np.repeat(np.cumsum(n_rows) - n_rows, n_rows))
            yield idx, rows, torch.from_numpy(rows), torch.from_numpy(np.repeat(np.arange(ids.size), n_rows))


def ppo_update(cfg, actor, critic, actor_opt, critic_opt, value_norm, gen, data) -> dict:
    """``ppo_epoch`` passes over ``num_mini_batch`` mini-batches of the collected moves (the reference's
    R_MAPPO.train / ppo_update / cal_value_loss). ``data``: per move its rows' ``features`` and ``allowed``
    (flat, ``counts`` rows per move), the ``action`` (a row index within the move's rows), ``logp`` and
    ``value`` at collection, ``reward``, ``cin`` (the critic's input) and ``next`` (and ``discount``)."""
    import torch
    from torch import nn

    ret_np, adv = returns(cfg, data, value_norm)
    # the returns less the (denormalised) values are the advantages
    explained = float(1.0 - adv.var() / ret_np.var()) if ret_np.size > 1 and ret_np.var() > 0 else float("nan")
    adv = (adv - adv.mean()) / (adv.std() + 1e-5)

    counts = data["counts"]
    row_start = np.cumsum(counts) - counts
    x, allowed = torch.from_numpy(data["features"]), torch.from_numpy(data["allowed"])
    act_row = torch.from_numpy(row_start + data["action"])
    old_logp = torch.from_numpy(data["logp"])
    old_val, cin = torch.from_numpy(data["value"]), torch.from_numpy(data["cin"])
    ret, advt = torch.from_numpy(ret_np.astype(np.float32)), torch.from_numpy(adv.astype(np.float32))
    sums = dict.fromkeys(UPDATE_COLUMNS[:-1], 0.0)

    def huber(e):
        d = cfg.huber_delta
        return torch.where(e.abs() <= d, e ** 2 / 2, d * (e.abs() - d / 2))

    actor.train()
    critic.train()
    for idx, rows, rows_t, mover in _minibatches(cfg, counts, gen):
        ids = idx.numpy()
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


def imitation_update(cfg, actor, actor_opt, gen, data) -> dict:
    """``ppo_epoch`` passes over ``num_mini_batch`` mini-batches of the collected moves minimising the
    cross-entropy of the rows an expert took in the same states (``data["expert"]``, a row index per move):
    behaviour cloning on the states the learner visits (DAgger's data, Ross, Gordon and Bagnell, AISTATS 2011),
    the warm start a family may give PPO. Returns the mean loss and how often the learner's most likely row is
    the expert's."""
    import torch
    from torch import nn

    counts = data["counts"]
    row_start = np.cumsum(counts) - counts
    x, allowed = torch.from_numpy(data["features"]), torch.from_numpy(data["allowed"])
    expert_row = torch.from_numpy(row_start + data["expert"])
    total, agree, n = 0.0, 0.0, 0
    actor.train()
    for idx, rows, rows_t, mover in _minibatches(cfg, counts, gen):
        ids = idx.numpy()
        logp_rows = log_policy(actor, x[rows_t], mover, allowed[rows_t], ids.size)
        local = torch.from_numpy(np.searchsorted(rows, expert_row[idx].numpy()))
        loss = -logp_rows[local].mean()
        actor_opt.zero_grad()
        loss.backward()
        if cfg.use_max_grad_norm:
            nn.utils.clip_grad_norm_(actor.parameters(), cfg.max_grad_norm)
        actor_opt.step()
        with torch.no_grad():
            top = first_best(logp_rows.detach().numpy().astype(np.float64), mover.numpy(), ids.size)
            agree += float(np.mean(top == local.numpy()))
        total += float(loss.detach())
        n += 1
    return {"imitation_loss": total / n, "imitation_agreement": agree / n}


# -- training ------------------------------------------------------------------------------------------------
#: The learning rate of :func:`imitation_update` (Adam), whatever PPO's.
IMITATION_LR = 5e-4
#: The learning curve's columns before a family's validation columns.
CURVE_HEAD = ("update", "decisions", "seconds", "decisions_per_second", "reward_per_decision", *UPDATE_COLUMNS)


@contextlib.contextmanager
def deterministic(seed: int):
    """One thread, deterministic algorithms and seeded global generators inside the block (restored after)."""
    import torch
    from threadpoolctl import threadpool_limits

    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        with threadpool_limits(1):
            torch.manual_seed(seed)
            np.random.seed(seed % 2 ** 32)
            yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def train_loop(cfg: MAPPOConfig, *, networks: tuple, collect: Callable, validate: Callable,
               validation_columns: Sequence[str], updates: int, seed: int, curve_csv: Path, progress: bool,
               started: float, label: str, imitation: int = 0):
    """PPO over ``updates`` updates: ``collect(actor, critic, gen)`` plays a fresh batch with sampled rows and
    returns the data :func:`ppo_update` takes; every ``eval_interval`` updates (and after the last)
    ``validate(actor)`` returns (the number shown on the progress bar, the validation columns' values). The
    learning curve goes to ``curve_csv`` row by row. The first ``imitation`` of the updates are
    :func:`imitation_update` on the same batches with their own Adam optimiser at ``IMITATION_LR`` (their
    columns: the loss as ``policy_loss``, the agreement with the expert as ``ratio``; the critic is not
    trained), the rest PPO. Returns (actor, critic, value_norm,
    decisions, the last validation number)."""
    import torch
    from tqdm import tqdm

    gen = torch.Generator().manual_seed(seed)  # action sampling and mini-batch order
    actor, critic = networks
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.lr, eps=cfg.opti_eps, weight_decay=cfg.weight_decay)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, eps=cfg.opti_eps,
                                  weight_decay=cfg.weight_decay)
    # the warm start is supervised learning with its own optimiser (PPO's learning rate may be set lower)
    imitation_opt = torch.optim.Adam(actor.parameters(), lr=IMITATION_LR, eps=cfg.opti_eps) if imitation else None
    value_norm = ValueNorm()
    decisions, last = 0, None
    with (open(curve_csv, "w", newline="") as curve,
          tqdm(total=updates, unit="update", disable=not progress, desc=f"training {label}") as bar):
        writer = csv.writer(curve)
        writer.writerow([*CURVE_HEAD, *validation_columns])
        for update in range(1, updates + 1):
            if cfg.use_linear_lr_decay:
                frac = 1.0 - (update - 1.0) / updates
                actor_opt.param_groups[0]["lr"] = frac * cfg.lr
                critic_opt.param_groups[0]["lr"] = frac * cfg.critic_lr
            actor.eval()
            critic.eval()
            data = collect(actor, critic, gen)
            decisions += int(data["action"].size)
            if update <= imitation:
                bc = imitation_update(cfg, actor, imitation_opt, gen, data)
                info = dict.fromkeys(UPDATE_COLUMNS, float("nan"))
                info.update(policy_loss=bc["imitation_loss"], ratio=bc["imitation_agreement"])
            else:
                info = ppo_update(cfg, actor, critic, actor_opt, critic_opt, value_norm, gen, data)
            cells = [""] * len(validation_columns)
            if update % cfg.eval_interval == 0 or update == updates:
                actor.eval()
                last, values = validate(actor)
                cells = [f"{v:.6g}" for v in values]
                bar.set_postfix(validation=f"{last:.4g}")
            bar.update(1)
            elapsed = time.perf_counter() - started
            writer.writerow([update, decisions, f"{elapsed:.1f}", f"{decisions / max(elapsed, 1e-9):.1f}",
                             f"{float(data['reward'].mean()):.6g}", *(f"{info[k]:.6g}" for k in UPDATE_COLUMNS),
                             *cells])
            curve.flush()
    actor.eval()
    critic.eval()
    return actor, critic, value_norm, decisions, last


def plot_curve(curve_csv: Path, curve_png: Path, title: str, series: dict[str, str], ylabel: str,
               symlog: bool = True, scale: float = 100.0) -> None:
    """The learning curve as a PNG (matplotlib's Figure API, never pyplot): the sampled rows' reward per
    decision, and the validation ``series`` (column: label; values times ``scale``); markers on every point,
    so that a curve of one update still shows: large ones, kept off the panels' edges, and a note under the
    panels, when there are at most 3 updates."""
    from matplotlib.figure import Figure

    with open(curve_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    x = [int(r["decisions"]) for r in rows]
    few = len(rows) <= 3
    style = {"marker": "o", "ms": 7 if few else 3, "lw": 1.2}
    fig = Figure(figsize=(9, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(x, [float(r["reward_per_decision"]) for r in rows], **style)
    ax1.set_xlabel("decisions")
    ax1.set_ylabel("reward per decision (sampled rows, units)")
    ax1.set_title(f"{title}: rollouts")
    for key, label in series.items():
        ev = [(xx, scale * float(r[key])) for xx, r in zip(x, rows) if r.get(key)]
        if ev:
            ax2.plot([e[0] for e in ev], [e[1] for e in ev], **style, label=label)
    ax2.axhline(0.0, color="grey", lw=0.8, ls="--")
    if symlog:
        ax2.set_yscale("symlog", linthresh=0.1)
    ax2.set_xlabel("decisions")
    ax2.set_ylabel(ylabel)
    ax2.set_title("validation (unseen problems)")
    ax2.legend(fontsize=8)
    if few:
        for ax in (ax1, ax2):
            ax.margins(x=0.1, y=0.15)  # a lone point in the middle of its panel, not on its edge
        fig.text(0.5, 0.01, f"only {len(rows)} update(s), one point each: train for more --steps to see a curve",
                 ha="center", va="bottom", fontsize=9, color="dimgrey")
    fig.tight_layout(rect=(0, 0.05, 1, 1) if few else None)
    fig.savefig(curve_png, dpi=110)


# -- the policy file -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyKind:
    """What a family's policy files hold: its name, the layout of its features (a JSON object with a
    ``version``; every other entry a list of feature names), the actor's row input and the critic's input
    size for a configuration, and ``legacy(header)``: the reason a recognisably older file cannot be used,
    or None."""

    family: str
    layout: dict
    row_input: int
    critic_input: Callable[[MAPPOConfig], int]
    legacy: Callable[[dict], str | None] = lambda header: None

    def networks(self, cfg: MAPPOConfig):
        return make_networks(cfg, self.row_input, self.critic_input(cfg))

    def layout_json(self) -> dict:
        return json.loads(json.dumps(self.layout))  # tuples as lists, as a JSON header holds them


def _tensors_hash(header: dict, tensors: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in header.items() if k != "content_hash"}, sort_keys=True).encode())
    for group in sorted(tensors):
        for name in sorted(tensors[group]):
            t = tensors[group][name].detach().contiguous().cpu()
            h.update(f"{group}.{name}:{t.dtype}:{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()


def save_policy(path, kind: PolicyKind, *, actor, critic, value_norm: ValueNorm, cfg: MAPPOConfig,
                training: dict) -> dict:
    """Write a policy file (tensors and a JSON header, atomically); returns the header."""
    import torch

    tensors = {"actor": {k: v.detach().clone() for k, v in actor.state_dict().items()},
               "critic": {k: v.detach().clone() for k, v in critic.state_dict().items()},
               "value_norm": value_norm.state_dict()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "family": kind.family,
              "algorithm": "mappo" if cfg.use_centralized_V else "ippo", "layout": kind.layout_json(),
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


def _brief(value, most: int = 80) -> str:
    """``repr(value)``, cut to ``most`` characters: a hostile header's values can be megabytes long."""
    text = repr(value)
    return text if len(text) <= most else text[:most - 3] + "..."


def _clip(text: str, most: int = 200) -> str:
    """``text`` on one line (characters that do not print escaped), cut to ``most`` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:4 * most])
    return text if len(text) <= most else text[:most - 3] + "..."


def _keys(keys) -> str:
    """Some of a file's dictionary keys, for a message: names shown cut short, other keys by their type."""
    shown = sorted(_brief(k, 40) if isinstance(k, str) else type(k).__name__ for k in keys)
    return "[" + ", ".join(shown[:3]) + (", ..." if len(shown) > 3 else "") + "]"


def _differs(what: str, theirs, ours) -> str:
    return f"its {what} is {_brief(theirs)}, this edgeopt's is {ours!r}"


#: The largest policy file read: the largest networks the hyperparameter limits allow (hidden_size 1,024 with
#: layer_N 8: about 19 million float32 values, 73 MB) fit; the shipped ones are well under 1 MB.
MAX_POLICY_BYTES = 80 * 1024 * 1024
#: The most tensor elements a policy file holds in all (counted from their shapes before any is touched).
MAX_POLICY_ELEMENTS = MAX_POLICY_BYTES // 4
#: The largest pickle (the archive's data.pkl: the JSON header and the tensors' descriptions, not their
#: values) read, and the most instructions it may have: the shipped ones hold about 5 KB in 1,000
#: instructions (the header is one); torch's unpickler spends up to 250 bytes and 5 microseconds on each.
MAX_POLICY_PICKLE_BYTES = 2 * 1024 * 1024
MAX_POLICY_PICKLE_OPS = 100_000
#: The largest central directory (the list of the archive's members) read; the shipped ones' is 4 KB.
MAX_POLICY_DIRECTORY_BYTES = 1024 * 1024
#: The only Python objects a policy file's pickle may name ("module name", as pickletools shows them): the
#: ones torch.save writes for a dict of a string and state dicts of float32 and float64 tensors. torch's
#: weights_only loader allows more (conversions and constructors that allocate whatever size a small file
#: asks for), refused before torch.load runs.
_POLICY_GLOBALS = frozenset({"collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch FloatStorage",
                             "torch DoubleStorage"})
_POLICY_GROUPS = ("actor", "critic", "value_norm")


def _not_policy(path: Path, why: str) -> ValueError:
    return ValueError(f"policy {str(path)!r} is not an edgeopt policy file (expected one written by `edgeopt "
                      f"train`; {why})")


def _refused(exc: Exception, path: Path) -> bool:
    """Whether ``exc`` is one of this module's refusals of ``path`` (not an error of a library reading it)."""
    return isinstance(exc, ValueError) and str(exc).startswith(f"policy {str(path)!r}")


def _check_archive(path: Path, f) -> None:
    """The archive torch.save writes, checked from its central directory before torch.load reads it: a zip file
    whose members sit in one folder, stored (not compressed), unpacking to at most ``MAX_POLICY_BYTES``, with
    a ``data.pkl`` of at most ``MAX_POLICY_PICKLE_BYTES`` and ``MAX_POLICY_PICKLE_OPS`` instructions that
    names only the objects of ``_POLICY_GLOBALS``. torch.load itself would inflate a compressed member, or a
    tensor that a conversion in the pickle materialises, to any size a small file asks for."""
    import pickletools
    import zipfile

    if f.read(4) != b"PK\x03\x04":  # what torch.load looks for
        raise _not_policy(path, "it is not a PyTorch archive, a zip file")
    end_record = getattr(zipfile, "_EndRecData", None)  # the end record ZipFile reads, with the directory's size
    try:
        end = end_record(f) if end_record else [0] * 10
        if end is None:
            raise zipfile.BadZipFile("no end of central directory")
        if end[zipfile._ECD_SIZE] > MAX_POLICY_DIRECTORY_BYTES:  # before ZipFile parses it
            raise _not_policy(path, f"its archive's directory is {end[zipfile._ECD_SIZE]:,} bytes, more than "
                                    f"{MAX_POLICY_DIRECTORY_BYTES:,}")
        f.seek(0)
        with zipfile.ZipFile(f) as archive:
            members = archive.infolist()
            names = [m.filename for m in members]
            folder = names[0].split("/")[0] if names else ""
            if (len(set(names)) != len(names) or not all(n.startswith(folder + "/") for n in names)
                    or f"{folder}/data.pkl" not in names):
                raise _not_policy(path, "its archive is not laid out as torch.save lays it out")
            if any(m.compress_type != zipfile.ZIP_STORED or m.compress_size != m.file_size for m in members):
                raise _not_policy(path, "its archive has compressed members; torch.save stores them")
            unpacked = sum(m.file_size for m in members)
            if unpacked > MAX_POLICY_BYTES:
                raise _not_policy(path, f"its archive unpacks to {unpacked:,} bytes, more than {MAX_POLICY_BYTES:,}")
            pickled = archive.getinfo(f"{folder}/data.pkl").file_size
            if pickled > MAX_POLICY_PICKLE_BYTES:
                raise _not_policy(path, f"its data.pkl is {pickled:,} bytes, more than {MAX_POLICY_PICKLE_BYTES:,}")
            pickle_bytes = archive.read(f"{folder}/data.pkl")
    except Exception as exc:  # (zipfile's errors on a damaged archive are of many kinds)
        if _refused(exc, path):
            raise
        raise _not_policy(path, f"its archive is damaged ({type(exc).__name__})") from None
    try:
        for count, (op, arg, _) in enumerate(pickletools.genops(pickle_bytes)):
            if count >= MAX_POLICY_PICKLE_OPS:
                raise _not_policy(path, f"its pickle has more than {MAX_POLICY_PICKLE_OPS:,} instructions")
            if op.name in ("GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "EXT1", "EXT2", "EXT4") \
                    and arg not in _POLICY_GLOBALS:
                shown = _brief(arg.replace(" ", ".") if isinstance(arg, str) else op.name, 60)
                raise _not_policy(path, f"its pickle names {shown}; a policy file holds only tensors and a "
                                        "JSON header")
    except Exception as exc:  # (pickletools' errors on a damaged pickle)
        if _refused(exc, path):
            raise
        raise _not_policy(path, f"its pickle is damaged ({type(exc).__name__})") from None


def _elements(t) -> int:
    return math.prod(int(n) for n in t.shape)


def _check_tensors(path: Path, group: str, given, expected: dict) -> None:
    """The tensors of one group: a mapping of exactly the expected names to dense tensors in memory, each of
    the expected shape and dtype, laid out as edgeopt writes them (the contiguous strides of its shape, within
    its storage: an expanded view, whose stride 0 repeats one value over any size, is refused), with finite
    values. Shapes, dtypes and strides are checked before a value is read."""
    import torch

    where = f"policy {str(path)!r}: its {group} tensors"
    if not isinstance(given, dict):
        raise ValueError(f"{where} are not a mapping of names to tensors")  # noqa: TRY004  (a bad file: exit 2)
    if set(given) != set(expected):
        raise ValueError(f"{where} do not match its hyperparameters (missing {_keys(set(expected) - set(given))}, "
                         f"unexpected {_keys(set(given) - set(expected))})")
    for name, t in given.items():
        if type(t) not in (torch.Tensor, torch.nn.Parameter):
            raise ValueError(f"{where}: {name} is not a tensor")
        want = expected[name]
        if tuple(t.shape) != tuple(want.shape) or t.dtype != want.dtype:
            raise ValueError(f"{where}: {name} has shape {_brief(tuple(t.shape), 60)} ({t.dtype}), expected "
                             f"{tuple(want.shape)} ({want.dtype})")
        if t.layout != torch.strided or t.device.type != "cpu":
            raise ValueError(f"{where}: {name} is a {t.layout} tensor on {t.device}, expected a dense one in memory")
        strides, step = [], 1
        for n in reversed(t.shape):
            strides.insert(0, step)
            step *= n
        if (t.stride() != tuple(strides) or t.storage_offset() < 0
                or t.untyped_storage().nbytes() < (t.storage_offset() + t.numel()) * t.element_size()):
            raise ValueError(f"{where}: {name} has strides {_brief(t.stride(), 60)}, expected {tuple(strides)} "
                             "(an expanded or rearranged view; edgeopt writes contiguous tensors)")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{where}: {name} holds values that are not finite (NaN or infinite)")


def _policy_file(path) -> Path:
    """``path`` resolved, when it names a regular file; a ValueError that says what it names instead (nothing,
    a folder, a device or pipe, a loop of symbolic links)."""
    path = Path(path)
    try:
        resolved = path.resolve()
        st = resolved.stat()
    except RuntimeError:  # Python 3.11's resolve() on a loop of symbolic links
        raise ValueError(f"policy {str(path)!r}: a loop of symbolic links, not a file") from None
    except FileNotFoundError:
        raise ValueError(f"policy {str(path)!r}: no such file") from None
    except OSError as exc:  # ELOOP from stat, a permission, a name too long
        raise ValueError(f"policy {str(path)!r}: cannot be read ({exc.strerror or exc})") from None
    except ValueError:  # a NUL character
        raise ValueError(f"policy {str(path)!r}: not a path (it holds a NUL character)") from None
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"policy {str(path)!r} is a folder; give the policy file (.pt) in it")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"policy {str(path)!r} is not a regular file (a device, pipe or socket)")
    return resolved


def _read_policy_file(path: Path):
    """torch.load of the policy file at ``path`` (checked by :func:`_policy_file`), after the checks on its
    size and archive (:func:`_check_archive`), all on one open file; torch's warnings are not shown."""
    import warnings

    import torch

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a pipe put there meanwhile cannot block
    except OSError as exc:
        raise ValueError(f"policy {str(path)!r}: cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"policy {str(path)!r} is not a regular file (a device, pipe or socket)")
        if st.st_size > MAX_POLICY_BYTES:  # before reading
            raise ValueError(f"policy {str(path)!r} is {st.st_size:,} bytes; an edgeopt policy file is at most "
                             f"{MAX_POLICY_BYTES:,}")
        if st.st_size == 0 and not f.read(1):
            raise ValueError(f"policy {str(path)!r} is an empty file, not an edgeopt policy file (expected one "
                             "written by `edgeopt train`)")
        try:
            f.seek(0)
            _check_archive(path, f)
            f.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return torch.load(f, map_location="cpu", weights_only=True)
        except Exception as exc:  # (a damaged file, or one holding more than tensors)
            if _refused(exc, path):
                raise
            raise _not_policy(path, f"PyTorch cannot read it: {type(exc).__name__}") from None


def load_policy(path, kind: PolicyKind) -> Policy:
    """Read a policy file of ``kind``'s family; ValueError when it is not one, or when its family or layout
    differs (named). Nothing a file asks for is allocated before it is checked against the limits: the
    archive (:func:`_check_archive`) before torch.load, the header's hyperparameters (``LIMITS``) and the
    tensors' count, shapes, dtypes and strides (:func:`_check_tensors`) before a value is read, the networks
    built on the meta device (no memory) to know the expected shapes."""
    import torch

    _policy_file(path)
    path = Path(path)  # messages name the path as given
    data = _read_policy_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("header"), str):
        # a bad file, not a bad argument type: ValueError (exit 2 on the command line)
        raise ValueError(f"policy {str(path)!r} is not an edgeopt policy file: no JSON header")  # noqa: TRY004
    held = [t for v in data.values() for t in (v.values() if isinstance(v, dict) else [v])
            if isinstance(t, torch.Tensor)]
    elements = sum(_elements(t) for t in held)
    if elements > MAX_POLICY_ELEMENTS:  # from the shapes: no value is touched
        raise ValueError(f"policy {str(path)!r}: its tensors hold {elements:,} values in all; an edgeopt policy "
                         f"file holds at most {MAX_POLICY_ELEMENTS:,}")
    try:
        header = json.loads(data["header"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"policy {str(path)!r}: its header is not JSON ({exc})") from None
    except (ValueError, RecursionError) as exc:  # a number of over 4,300 digits; arrays nested too deeply
        why = "nested too deeply" if isinstance(exc, RecursionError) else "a number too long"
        raise ValueError(f"policy {str(path)!r}: its header is not JSON ({why})") from None
    if not isinstance(header, dict):
        raise ValueError(f"policy {str(path)!r}: its header is not a JSON object")  # noqa: TRY004  (a bad file: exit 2)
    where = f"policy {str(path)!r} cannot be used here: "
    if header.get("format") != FORMAT:
        raise ValueError(where + _differs("format", header.get("format"), FORMAT))
    layout = header.get("layout")
    if header.get("family") == kind.family:
        reason = kind.legacy(header)
        if reason:
            raise ValueError(where + reason)
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(where + _differs("format version", header.get("format_version"), FORMAT_VERSION))
    if header.get("family") != kind.family:
        raise ValueError(where + _differs("family", header.get("family"), kind.family))
    if not isinstance(layout, dict):
        raise ValueError(where + "its header has no layout")  # noqa: TRY004  (a bad file: exit 2)
    ours = kind.layout_json()
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
                         f"{_brief(theirs[at]) if at < len(theirs) else None!s} against "
                         f"{ours[key][at] if at < len(ours[key]) else None!r})")
    if header.get("algorithm") not in ("mappo", "ippo"):
        raise ValueError(where + _differs("algorithm", header.get("algorithm"), "mappo or ippo"))
    hyper = header.get("hyperparameters")
    try:
        if not isinstance(hyper, dict):
            raise TypeError("not a JSON object")
        cfg = MAPPOConfig(**hyper)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: an integer too large for a float
        raise ValueError(f"policy {str(path)!r}: its hyperparameters are not valid ({_clip(str(exc))})") from None
    if cfg.use_centralized_V != (header["algorithm"] == "mappo"):
        raise ValueError(f"policy {str(path)!r}: its algorithm {header['algorithm']!r} disagrees with its critic")
    extra = [k for k in data if k not in ("header", *_POLICY_GROUPS)]
    if extra:
        raise ValueError(f"policy {str(path)!r}: it holds {_keys(extra)} beside its header and its "
                         f"{', '.join(_POLICY_GROUPS)} tensors")
    with torch.device("meta"):  # the expected shapes and dtypes, without building (or initialising) anything
        actor, critic = kind.networks(cfg)
    norm = ValueNorm()
    expected = {"actor": actor.state_dict(), "critic": critic.state_dict(), "value_norm": norm.state_dict()}
    for group in _POLICY_GROUPS:
        _check_tensors(path, group, data.get(group), expected[group])
    tensors_ = {k: data[k] for k in _POLICY_GROUPS}
    try:
        digest = _tensors_hash(header, tensors_)
    except (ValueError, RecursionError):  # a header nested too deeply to write back
        digest = None
    if digest != header.get("content_hash"):
        raise ValueError(f"policy {str(path)!r}: its content does not match its content hash (a damaged or edited "
                         "file)")
    actor, critic = actor.to_empty(device="cpu"), critic.to_empty(device="cpu")
    with torch.no_grad():  # every value is loaded: strict, and the networks have no other state
        actor.load_state_dict(tensors_["actor"])
        critic.load_state_dict(tensors_["critic"])
    norm.load_state_dict(tensors_["value_norm"])
    actor.eval()
    critic.eval()
    return Policy(str(path), header, cfg, actor, critic, norm)


_LOADED: dict[tuple, Policy] = {}


def cached_policy(path, kind: PolicyKind) -> Policy:
    """:func:`load_policy`, read once per file version (path, size, modification time) and family."""
    path = _policy_file(path)
    st = path.stat()
    key = (kind.family, str(path), st.st_size, st.st_mtime_ns)
    if key not in _LOADED:
        if len(_LOADED) >= 8:  # a few policies are in use at a time
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = load_policy(path, kind)
    return _LOADED[key]


def solver_policy(solver: str, algorithm: str, given: str | None, shipped: Path, kind: PolicyKind,
                  script: str) -> Policy:
    """The policy a learned solver uses: ``given`` (its ``policy`` option) or its ``shipped`` file, read once
    (:func:`cached_policy`) and trained by the solver's own ``algorithm``; a ValueError naming what is wrong
    (an empty path, a shipped file missing, with the ``script`` that trains it, a policy of the other
    algorithm)."""
    if given == "":
        raise ValueError(f"option policy: an empty path; leave it out to use {solver}'s shipped policy")
    path = given or shipped
    if given is None and not Path(path).is_file():
        raise ValueError(f"{solver}: its shipped policy {path} is missing; give option policy=PATH, or train it "
                         f"({script})")
    policy = cached_policy(path, kind)
    if policy.algorithm != algorithm:
        raise ValueError(f"{solver}: policy {str(path)!r} was trained as {policy.algorithm}; give it to solver "
                         f"{policy.algorithm!r}")
    return policy


def check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 10 ** 9:
        raise ValueError(f"steps must be an integer between 1 and 1,000,000,000, got {steps!r}")
    return steps


def curve_paths(output) -> tuple[Path, Path, Path]:
    """(policy, curve CSV, curve PNG) of an output path; ValueError when it ends in .csv or .png."""
    output = Path(output)
    if output.suffix.lower() in (".csv", ".png"):
        raise ValueError(f"{output}: the policy file cannot end in .csv or .png (its learning curve goes there); "
                         "name it .pt")
    return output, output.with_suffix(".csv"), output.with_suffix(".png")


__all__ = [
    "CURVE_HEAD",
    "LIMITS",
    "LOGIT_BOUND",
    "MAX_POLICY_BYTES",
    "MAX_POLICY_ELEMENTS",
    "MAX_POLICY_PICKLE_BYTES",
    "MAX_POLICY_PICKLE_OPS",
    "UPDATE_COLUMNS",
    "MAPPOConfig",
    "NumpyScorer",
    "Policy",
    "PolicyKind",
    "ValueNorm",
    "cached_policy",
    "check_steps",
    "curve_paths",
    "deterministic",
    "first_best",
    "greedy_rows",
    "imitation_update",
    "load_policy",
    "log_policy",
    "make_config",
    "make_networks",
    "next_of",
    "plot_curve",
    "ppo_update",
    "returns",
    "sample_rows",
    "save_policy",
    "single_thread",
    "solver_policy",
    "tensors",
    "train_loop",
]
