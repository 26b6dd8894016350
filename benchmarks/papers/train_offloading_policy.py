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

import argparse
import json
import multiprocessing
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "edgeopt" / "data" / "policies"

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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=STEPS, help=f"decisions (turns) per policy ({STEPS:,})")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", choices=("mappo", "ippo"), help="train one policy only")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "papers" / "training",
                    help="where the policies and their learning curves are written")
    ap.add_argument("--no-install", action="store_true", help="do not copy the policies into edgeopt/data/policies")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override one of HYPERPARAMETERS (a JSON value or text), for ablations; implies --no-install")
    args = ap.parse_args(argv)
    overrides = {}
    for pair in args.set:
        key, sep, text = pair.partition("=")
        if not sep:
            ap.error(f"--set {pair!r}: expected NAME=VALUE")
        try:
            overrides[key.strip()] = json.loads(text)
        except ValueError:
            overrides[key.strip()] = text
    if overrides:
        args.no_install = True  # an ablation never replaces the shipped policies
    args.work.mkdir(parents=True, exist_ok=True)
    algorithms = [args.only] if args.only else ["mappo", "ippo"]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(len(algorithms)) as pool:
        reports = pool.starmap(train_one, [(a, args.steps, args.seed, args.work, overrides) for a in algorithms])
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    for r in reports:
        gap = "-" if r["gap"] is None else f"{100 * r['gap']:.3f}%"
        print(f"{r['algorithm']}: {r['decisions']:,} decisions in {r['updates']} updates, {r['wall'] / 60:.1f} min wall, "
              f"{r['cpu'] / 60:.1f} min CPU; validation gap to offload-ls {gap}; {r['size'] / 1e6:.2f} MB")
        if not args.no_install:
            POLICIES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r["policy"], POLICIES / Path(r["policy"]).name)
            print(f"  installed {POLICIES / Path(r['policy']).name}")
    print(f"all: {(time.perf_counter() - started) / 60:.1f} min wall on {len(algorithms)} process(es), "
          f"{(children.ru_utime + children.ru_stime) / 60:.1f} min CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
