"""Train the offloading policies that ship with edgeopt (edgeopt/data/policies/offloading-{mappo,ippo}.pt).

    python benchmarks/papers/train_offloading_policy.py [--steps N] [--seed 1] [--only mappo|ippo]
                                                        [--work benchmarks/papers/training] [--no-install]
                                                        [--set NAME=VALUE ...]

MAPPO and IPPO are trained at the same time in two processes (one CPU thread each: two cores), each by
``edgeopt.families.offloading.solvers.mappo.train`` with the settings below, then copied into the package.
The learning curves (CSV and PNG) stay in ``--work``. The same seed gives the same files, bit for bit, on
one machine. Wall and CPU seconds of each training are printed (the target: under 60 minutes on two cores).

What they train on: the whole scenario space of edgeopt/families/offloading/scenarios.py at its defaults
(``Ranges()``): a random subset of the catalogue's models in a random order, each with a random subset of
its configurations in a random order; every GPU kind of the catalogue on the edges; a random mix of phones,
laptops and Jetsons; delay weight x0.1 to x10, energy weight x0.1 to x100, refusal penalty x0.1 to x10 (0 one
time in ten) and cloud price x0.1 to x10 around the generator's defaults, all log-uniform; the cloud on or
off (even odds); cells of 0.1 to 20 km; uplinks of 0.2 to 20 MHz (downlinks twice); 1 to 8 cells of 1 to 250
users each (log-uniform); 2 slots per drawn instance. benchmarks/papers/offloading_regimes.py tests them on
scenarios of seeds the training never draws, in 16 regimes and with every catalogue reversed.

Hyperparameters (``HYPERPARAMETERS``): the reference defaults of MAPPOConfig except

- ``gamma=0``: a move's reward is the exact change of the slot's objective it makes, so the rewards of a slot
  add up to its objective; with gamma 0 each move is judged by its own change (a contextual bandit per turn),
  and the later turns of the same agent, which revise it, do not add their noise to its advantage;
- ``reward="regret"``: each turn's reward is rescaled by that turn's own rows (0 for the best row by value,
  -1 for the second, clipped at -10), which keeps each turn's best move (gamma 0) and weighs a close call as
  much as a clear one: with the plain change, choices between rows a fraction of a point apart were lost
  among rewards of a hundred points, and the policy kept a preference learned elsewhere (measured below);
- ``ppo_epoch=5, num_mini_batch=4``: 20 gradient steps on each batch of 8,192 turns (the reference's 15 epochs
  on one mini-batch cost three times the time per update for no better validation gap, measured below).

The ablations of docs/reproductions.md change one of them back with ``--set`` (with ``--set`` nothing is
installed) and compare the printed validation gap with the learning curve of the shipped run.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from common import training_main

HYPERPARAMETERS = {"gamma": 0.0, "reward": "regret", "ppo_epoch": 5, "num_mini_batch": 4, "eval_interval": 10}
STEPS = 8192 * 300


def train_one(algorithm: str, steps: int, seed: int, work: Path, overrides: dict) -> dict:
    from edgeopt.families.offloading.solvers.mappo import train

    started, cpu = time.perf_counter(), time.process_time()
    report = train(steps=steps, seed=seed, output=work / f"offloading-{algorithm}.pt",
                   independent_critic=algorithm == "ippo", hyperparameters={**HYPERPARAMETERS, **overrides},
                   progress=False)
    return {"algorithm": algorithm, "wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
            "updates": report.updates, "decisions": report.decisions, "gap": report.final_validation_gap,
            "policy": str(report.policy), "size": report.policy.stat().st_size}


def main(argv=None) -> int:
    return training_main(argv, __doc__, steps=STEPS, train_one=train_one,
                         describe=lambda r: "validation gap to offload-ls " + ("-" if r["gap"] is None else f"{100 * r['gap']:.3f}%"))


if __name__ == "__main__":
    sys.exit(main())
