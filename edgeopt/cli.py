"""The ``edgeopt`` command line: solve, compare, check, show, solvers, generate, train, export, schema.

Every command works for every registered family: ``show`` prints the family's ``describe``, ``generate``
offers the family's generator options, ``export`` writes the MILP of a family that has one and refuses
the others with a sentence.

Exit codes: 0 a proven or usable answer (optimal, feasible, infeasible, unbounded, or a time limit
that left a solution; ``check``: the solution is feasible), 1 no answer (solver error, a time limit
without a solution; ``check``: the solution violates a constraint), 2 bad input or usage (the message
names the file and the JSON path; no output file is written), 130 interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import sys
import textwrap
import typing
from pathlib import Path
from typing import Iterator, Sequence

import edgeopt
from edgeopt import registry
from edgeopt.document import InstanceError, parse_integer, parse_number, printable, brief
from edgeopt.io import atomic_output
from edgeopt.result import Result, Status
from edgeopt.solver import MAX_SEED
from edgeopt.text import fields, number, percent

EXIT_OK, EXIT_NO_ANSWER, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Statuses that answer the question asked: a plan, or a proof that none (or no finite optimum) exists.
_ANSWERED = {Status.OPTIMAL, Status.FEASIBLE, Status.INFEASIBLE, Status.UNBOUNDED}


class UserError(Exception):
    """A mistake in the command line or the files it names: reported in one message, exit code 2."""


class _Several(UserError):
    """Problems in several input files, each already naming its file and JSON paths."""

    def __init__(self, errors: Sequence[InstanceError]):
        super().__init__("\n".join(str(e) for e in errors))


@contextlib.contextmanager
def _user_input() -> Iterator[None]:
    """Treat ValueError and OSError raised inside as the user's mistake (a path, a name, a number)."""
    try:
        yield
    except InstanceError:
        raise
    except (ValueError, OSError) as exc:
        raise UserError(_os_text(exc) if isinstance(exc, OSError) else str(exc)) from None


def _os_text(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


# -- argument types: each refuses a bad value with a message argparse prints ------------------------
def _positive(what: str):
    """An argument type: a positive, finite float (nan and inf are refused: no solver means them)."""

    def parse(text: str) -> float:
        try:
            value = parse_number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {brief(text)}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive, finite {what.removeprefix('a ')}, got {brief(text)}")
        return value

    return parse


_positive_seconds = _positive("a number of seconds")


def _int_at_least(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = parse_integer(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {brief(text)}") from None
        if value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {brief(text)}")
        return value

    return parse


@contextlib.contextmanager
def _reading(path: str) -> Iterator[None]:
    """Reading an input file: an unreadable file (permissions, a device) is the user's mistake too."""
    try:
        yield
    except InstanceError:
        raise
    except OSError as exc:
        raise UserError(_os_text(exc)) from None
    except ValueError as exc:
        raise UserError(f"{path}: {exc}") from None


def _load_all(path: str, sense: str | None = None, problem: str | None = None) -> tuple[list, bool]:
    """The instances in a file (one for a JSON file, every problem of an OR-Library file), and whether
    it is an OR-Library file; with ``problem`` (--problem), only that one."""
    with _reading(path):
        loaded = edgeopt.load(path, sense=sense)
    instances, orlib = (loaded, True) if isinstance(loaded, list) else ([loaded], False)
    return instances if problem is None else [_pick(path, instances, problem)], orlib


def _pick(path: str, instances: Sequence, problem: str):
    """--problem NAME|K: the problem of that name (as `edgeopt show` prints it), else the K-th (from 1)."""
    for inst in instances:
        if inst.name == problem:
            return inst
    if re.fullmatch(r"[0-9]{1,9}", problem, re.ASCII) and 1 <= int(problem) <= len(instances):
        return instances[int(problem) - 1]
    names = [inst.name for inst in instances]
    shown = ", ".join(names) if len(names) <= 8 else f"{', '.join(names[:6])}, ..., {names[-1]}"
    numbers = "1" if len(names) == 1 else f"1 to {len(names)}"
    raise UserError(f"--problem {brief(problem)}: {printable(path)} has no such problem; its problems: {shown} "
                    f"(or their numbers, {numbers})")


def _load(path: str):
    """The one instance of a file (an OR-Library file holding several problems is refused)."""
    instances, _ = _load_all(path)
    if len(instances) > 1:
        raise UserError(f"{path}: holds {len(instances)} problems ({instances[0].name} to {instances[-1].name}); "
                        "this command takes one instance (save one as JSON: edgeopt.save(edgeopt.load(path)[k], "
                        "'problem.json'))")
    return instances[0]


def _reference_tables(path: str | None, files: Sequence[str]) -> list[dict]:
    """The reference tables to look instances up in: the given .solu file, else those found beside the
    files and the packaged copy (edgeopt.comparison.reference.candidates)."""
    from edgeopt.comparison.reference import candidates, read_solu

    paths = [Path(path)] if path is not None else candidates(files)
    tables = []
    for p in paths:
        with _reading(str(p)):
            tables.append(read_solu(p))
    return tables


def _check_output_path(out: str, inputs: Sequence[str], folder_now: bool = True) -> None:
    """Refuse, before anything is solved, an output that cannot be written: a folder, a device, a pipe,
    an input file, a place without write permission, or (unless ``folder_now`` is false: then the caller
    asks :func:`_check_output_folder` later) a folder that does not exist."""
    p = Path(out)
    if p.exists() and not p.is_file():
        what = "a folder" if p.is_dir() else "not a regular file (a device, a pipe or a socket)"
        raise UserError(f"{printable(out)}: is {what}; the output must be a regular file")
    for f in inputs:
        if Path(f).exists() and p.exists() and p.resolve() == Path(f).resolve():
            raise UserError(f"{printable(out)}: is also an input file; refusing to overwrite it")
    folder = p.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{printable(out)}: cannot be written (no permission to write in {printable(str(folder))})")
    if folder_now:
        _check_output_folder(out)


def _check_output_folder(out: str) -> None:
    """An output file goes into a folder that exists: a mistyped folder is not made silently."""
    parent = Path(out).parent
    if not parent.is_dir():
        raise UserError(f"{printable(str(parent))}: no such folder; create it first")


# -- solve -----------------------------------------------------------------------------------------
def _exit_code(result: Result) -> int:
    if result.status in _ANSWERED:
        return EXIT_OK
    if result.status == Status.TIME_LIMIT and result.solution is not None:
        return EXIT_OK
    return EXIT_NO_ANSWER


def _solver_for(name: str, instances: Sequence[tuple[str, object]]) -> None:
    """Refuse an unknown, unavailable or unsuitable solver before any solving starts."""
    for path, inst in instances:
        try:
            edgeopt.get_solver(inst.kind, name)
        except ValueError as exc:
            raise UserError(f"{path}: {exc}" if path else str(exc)) from None


def _takes(solver: str, inst, option: str) -> bool:
    return option in {f.name for f in dataclasses.fields(type(edgeopt.get_solver(inst.kind, solver)).Options)}


def _cuts(value: str, solver: str, inst) -> tuple[str, ...]:
    """--cuts: names of valid inequalities the family's MILP adds (checked by its formulate)."""
    if not _takes(solver, inst, "formulation"):
        raise UserError(f"--cuts: solver {solver!r} does not solve the MILP formulation; the MILP backends do "
                        f"(highs, cpsat, scip, pyomo)")
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _warm_start(value: str, solver: str, path: str, inst):
    """--warm-start: a solver of the instance's family by name, else a solution file of this instance."""
    if not _takes(solver, inst, "warm_start"):
        raise UserError(f"--warm-start: solver {solver!r} takes no starting plan; the MILP backends do "
                        f"(highs, cpsat, scip, pyomo)")
    if value in registry.names(inst.kind):
        return value
    if not os.path.exists(value):
        raise UserError(f"--warm-start {printable(value)}: neither a solver of {inst.kind!r} instances "
                        f"({', '.join(registry.names(inst.kind))}) nor an existing solution file")
    with _reading(value):
        return edgeopt.load_solution(value, inst)


def _solver_options(pairs: Sequence[str], solver: str, inst) -> dict:
    """--option NAME=VALUE: one of the solver's options (`edgeopt solvers`; e.g. mappo's policy=FILE). The
    value is read as JSON (a number, true/false, null) when the option takes that, else as the text itself;
    the solver's Options check it."""
    from edgeopt.solver import _accepts

    cls = type(edgeopt.get_solver(inst.kind, solver)).Options
    hints = typing.get_type_hints(cls)
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--option {printable(pair)}: expected NAME=VALUE")
        if key in ("warm_start", "formulation"):
            raise UserError(f"--option {key}: give it with --{'warm-start' if key == 'warm_start' else 'cuts'}")
        if key not in hints:
            known = ", ".join(f.name for f in dataclasses.fields(cls)) or "no options"
            raise UserError(f"--option {printable(key)}: solver {solver!r} takes {known}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        out[key] = value if _accepts(hints[key], value) else text
    return out


def cmd_solve(args) -> int:
    if args.output is not None:
        if len(args.files) > 1:
            raise UserError("-o/--output writes one solution file; give exactly one instance file with it")
        _check_output_path(args.output, args.files)
    loaded, problems, several = [], [], False
    for path in args.files:
        try:
            instances, orlib = _load_all(path, args.sense, args.problem)
        except InstanceError as exc:
            problems.append(exc)
            continue
        several |= orlib and args.problem is None  # one line per problem; one picked is shown in full
        loaded += [(path, inst) for inst in instances]
    if problems:
        # Every bad file is reported, and nothing is solved until all of them load.
        raise problems[0] if len(problems) == 1 else _Several(problems)
    if args.output is not None and len(loaded) > 1:
        raise UserError(f"-o/--output writes one solution file; {args.files[0]} holds {len(loaded)} problems "
                        "(pick one with --problem NAME|K)")
    solvers = [args.solver or edgeopt.family(inst.kind).default_solver for _, inst in loaded]
    for name, item in zip(solvers, loaded):
        _solver_for(name, [item])
    jobs = []
    for name, (path, inst) in zip(solvers, loaded):  # every option is checked before anything is solved
        options = {} if args.warm_start is None else {"warm_start": _warm_start(args.warm_start, name, path, inst)}
        if args.cuts is not None:
            options["formulation"] = {"cuts": _cuts(args.cuts, name, inst)}
        options.update(_solver_options(args.option, name, inst))
        jobs.append((path, inst, name, options))
    from edgeopt.comparison.reference import lookup

    tables = _reference_tables(args.reference, args.files)
    found = {inst.name: lookup(tables, inst.name, inst.hash)[0] for _, inst in loaded}
    known = {name: ref for name, ref in found.items() if ref is not None and ref.value is not None}

    def solved(path, inst, name, options) -> Result:
        with _user_input():
            return edgeopt.solve(inst, name, time_limit=args.time_limit, seed=args.seed, **options)

    results = []
    if len(jobs) == 1 and not several:
        path, inst, name, options = jobs[0]
        result = solved(*jobs[0])
        results.append((path, inst, result))
        print(fields([("instance", f"{inst.name} ({printable(path)})")]))
        print(result.summary())
        ref = known.get(inst.name)
        if ref is not None and result.objective is not None:
            kind = "proven optimum" if ref.optimum is not None else "best known"
            print(fields([("reference", f"{number(ref.value)} ({kind}, {printable(ref.source)}); this run's gap to "
                                        f"it {percent(edgeopt.relative_gap(result.objective, ref.value, inst.sense))}")]))
    else:
        # One line per instance as it finishes: per file for JSON files, per problem (by name) for OR-Library
        # files; a Ctrl-C keeps the lines already printed.
        label = (lambda path, inst: inst.name) if several else (lambda path, inst: printable(path))
        header = ["instance" if several else "file"] + ([] if args.solver else ["solver"])
        header += ["status", "objective", "bound", "gap"] + (["reference", "ref_gap"] if known else []) + ["time"]
        widths = [max(len(header[0]), *(len(label(p, i)) for p, i in loaded))]
        widths += [max(len(header[1]), *map(len, solvers))] if not args.solver else []
        widths += [max(len(h), w) for h, w in zip(header[len(widths):], [11, 14, 14, 9, 14, 9, 10])]
        align = "l" * (1 if args.solver else 2) + "l" + "r" * (len(header) - (2 if args.solver else 3))

        def line(cells) -> str:
            return "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(cells, widths, align)).rstrip()

        print(line(header))
        print("  ".join("-" * w for w in widths), flush=True)
        for path, inst, name, options in jobs:
            r = solved(path, inst, name, options)
            results.append((path, inst, r))
            cells = [label(path, inst)] + ([] if args.solver else [name])
            cells += [r.status.value, number(r.objective), number(r.bound), percent(r.gap)]
            if known:
                ref = known.get(inst.name)
                value = None if ref is None else ref.value
                cells += [number(value), percent(edgeopt.relative_gap(r.objective, value, inst.sense))]
            print(line(cells + [f"{r.build_seconds + r.solve_seconds:.3f} s"]), flush=True)
        for path, inst, r in results:
            if r.message:
                print(f"{label(path, inst)}: {r.message}")
        used = sorted({known[inst.name].source for _, inst, _ in results if inst.name in known})
        if used:
            print(f"references: {', '.join(printable(u) for u in used)} (matched by name and content hash)")

    if args.output is not None:
        path, inst, result = results[0]
        if result.solution is None:
            why = f": {result.message}" if result.message else ""
            print(f"edgeopt: no solution file written to {args.output}: the solve ended {result.status.value} "
                  f"without a solution{why}", file=sys.stderr)
        elif result.status == Status.ERROR:
            print(f"edgeopt: no solution file written to {args.output}: the solver's solution failed "
                  f"verification ({result.message})", file=sys.stderr)
        else:
            with _user_input():
                edgeopt.save_solution(inst, result, args.output)
            print(f"solution    written to {printable(args.output)}")
    return max(_exit_code(r) for _, _, r in results)


# -- check -----------------------------------------------------------------------------------------
def cmd_check(args) -> int:
    from edgeopt.io import parse_json_text, read_text
    from edgeopt.api import OBJECTIVE_RTOL

    order = "the order is: edgeopt check INSTANCE SOLUTION"
    try:
        inst = _load(args.file)
    except (InstanceError, UserError):
        if _looks_like(args.file) == "solution":
            raise UserError(f"{printable(args.file)} looks like a solution file; {order}") from None
        raise
    try:
        with _reading(args.solution):
            solution = edgeopt.load_solution(args.solution, inst)
            doc = parse_json_text(read_text(args.solution), args.solution)
    except (InstanceError, UserError):
        if _looks_like(args.solution) == "instance":
            raise UserError(f"{printable(args.solution)} looks like an instance file; {order}") from None
        raise
    ev = edgeopt.evaluate(inst, solution)
    print(fields([("instance", f"{inst.name} ({args.file})"),
                  ("solution", f"{args.solution} (solver {doc.get('solver', '?')}, status {doc.get('status', '?')})"),
                  ("objective", number(ev.objective))]))
    recorded = doc.get("objective")
    if isinstance(recorded, (int, float)) and not isinstance(recorded, bool) and math.isfinite(ev.objective):
        if abs(recorded - ev.objective) > OBJECTIVE_RTOL * max(1.0, abs(ev.objective)):
            print(f"note        the file records objective {number(recorded)}; the evaluator computes "
                  f"{number(ev.objective)}")
    for name, value in ev.parts.items():
        print(f"  {name:<18}{number(value)}")
    if ev.feasible:
        print("feasible    yes")
        return EXIT_OK
    print(f"feasible    no: {len(ev.violations)} violated constraint(s)")
    for v in ev.violations:
        print(f"  {v}")
    return EXIT_NO_ANSWER


def _looks_like(path: str) -> str | None:
    """"solution" for a JSON document shaped like a solution file (a "<family>-solution" kind or a "decisions"
    key), "instance" for an instance file (a family's kind, or a format a family reads such as OR-Library
    text), None otherwise or when the file cannot be read: a hint for a refusal, never a check."""
    from edgeopt.io import parse_json_text, read_text

    try:
        text = read_text(path)
        if any(reader.sniff(text, str(path)) for f in registry.FAMILIES.values() for reader in f.readers):
            return "instance"
        data = parse_json_text(text, str(path))
    except (ValueError, OSError):
        return None
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    if (isinstance(kind, str) and kind.endswith("-solution")) or "decisions" in data:
        return "solution"
    return "instance" if isinstance(kind, str) and kind in registry.FAMILIES else None


# -- show ------------------------------------------------------------------------------------------
def cmd_show(args) -> int:
    instances, _ = _load_all(args.file, args.sense, args.problem)
    for k, inst in enumerate(instances):
        if k:
            print()
        print(fields([("instance", f"{inst.name} ({args.file})")]))
        print(edgeopt.family_of(inst).describe(inst))
    return EXIT_OK


# -- solvers ---------------------------------------------------------------------------------------
#: Where a solver's description is cut in the listing: its first sentence (a full stop followed by a space).
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]])\.\s")


def _first_sentence(text: str) -> str:
    m = _SENTENCE_END.search(text)
    return text if m is None else text[:m.start() + 1]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 3)].rstrip() + "..."


def cmd_solvers(args) -> int:
    """The registry as a table, each row within the terminal's width (at least 100 columns): descriptions cut
    to their first sentence, or in full and wrapped with --long. Availability is whether the packages a
    solver needs are installed, found without importing them (torch alone takes seconds); a solve imports
    them and says why one fails."""
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    width = max(100, shutil.get_terminal_size().columns)
    entries = registry.entries(check=True, installed_only=True)
    header = ["family", "name", "exact", "gives_bound", "available", "description"]
    rows = [[e.family, e.name, yes(e.exact), yes(e.gives_bound), yes(e.available)] for e in entries]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    left = width - sum(widths) - 2 * len(widths)  # the description column
    lines = [header[:5] + [header[5]], ["-" * w for w in widths] + ["-" * left]]
    for row, e in zip(rows, entries):
        if args.long:
            wrapped = textwrap.wrap(e.description, left, break_long_words=False, break_on_hyphens=False) or [""]
            lines.append(row + [wrapped[0]])
            lines += [[""] * 5 + [more] for more in wrapped[1:]]
        else:
            lines.append(row + [_cut(_first_sentence(e.description), left)])
    for cells in lines:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths + [0])).rstrip())
    missing = [e for e in entries if not e.available]
    for e in {e.name: e for e in missing}.values():
        line = f"{e.name}: not available: {e.import_error}"
        print(line if args.long else _cut(line, width))
    return EXIT_OK


# -- generate --------------------------------------------------------------------------------------
def cmd_generate(args) -> int:
    _check_output_path(args.output, [])
    family = edgeopt.family(args.kind)
    params = {o.name: getattr(args, o.name) for o in family.generator_options}
    with _user_input():
        inst = edgeopt.generate(args.kind, **params, seed=args.seed, name=args.name)
        edgeopt.save(inst, args.output)
    print(f"wrote {args.output}: {inst!r}")
    return EXIT_OK


def _generator_arguments(p: argparse.ArgumentParser, family: registry.Family) -> None:
    """One option per parameter of the family's generator, then --seed, --name and -o."""
    for o in family.generator_options:
        flag = "--" + o.name.replace("_", "-")
        default = f" (default {o.default})" if o.default is not None else ""
        if o.flag:
            p.add_argument(flag, dest=o.name, action=argparse.BooleanOptionalAction, default=o.default,
                           help=o.help)
        else:
            p.add_argument(flag, dest=o.name, type=_argument_type(o.parse), default=o.default, metavar=o.metavar,
                           help=o.help + default)
    p.add_argument("--seed", type=_int_at_least(0, MAX_SEED), default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--name", help="instance name (default: one built from the parameters)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="instance file to write")


def _argument_type(parse):
    """A generator option's parser as an argparse type: its ValueError becomes a usage message."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


# -- train -----------------------------------------------------------------------------------------
def _range_pairs(pairs: Sequence[str], known):
    """(NAME, text, numbers) of each --range NAME=A[,B], NAME one of ``known``; UserError naming a bad one."""
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known:
            raise UserError(f"--range {printable(pair)}: expected NAME=LOW,HIGH with NAME one of {', '.join(known)}")
        try:
            values = [parse_number(t.strip()) for t in text.split(",")]
        except ValueError as exc:
            raise UserError(f"--range {key}: {exc}") from None
        yield key, text, values


def _ranges(pairs: Sequence[str]):
    """--range NAME=LOW,HIGH (or NAME=P for the probabilities cloud and free_refusal, NAME=N for slots): the
    scenario space of the training (edgeopt/families/offloading/scenarios.py)."""
    from edgeopt.families.offloading.scenarios import Ranges, make_ranges

    known = {f.name: f for f in dataclasses.fields(Ranges)}
    changes = {}
    for key, text, values in _range_pairs(pairs, known):
        pair_valued = isinstance(getattr(Ranges(), key), tuple)
        if pair_valued and len(values) != 2:
            raise UserError(f"--range {key}: expected two numbers LOW,HIGH, got {printable(text)}")
        if not pair_valued and len(values) != 1:
            raise UserError(f"--range {key}: expected one number, got {printable(text)}")
        whole = key in ("cells", "users_per_cell", "slots")
        if whole and any(v != int(v) for v in values):
            raise UserError(f"--range {key}: expected whole numbers, got {printable(text)}")
        values = [int(v) if whole else v for v in values]
        changes[key] = tuple(values) if pair_valued else values[0]
    try:
        return make_ranges(**changes)
    except ValueError as exc:
        raise UserError(f"--range: {exc}") from None


def _hyperparameters(pairs: Sequence[str]) -> dict:
    """--set NAME=VALUE: a JSON value (number, true/false, a list) or else the text itself."""
    out = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {printable(pair)}: expected NAME=VALUE")
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            out[key.strip()] = text
    return out


def _scenarios(pairs: Sequence[str]):
    """--range NAME=LOW,HIGH (NAME=P for the probability cloud) of the serving family's training episodes
    (edgeopt/families/serving/solvers/mappo.py, Scenarios)."""
    from edgeopt.families.serving.solvers.mappo import Scenarios

    known = [f.name for f in dataclasses.fields(Scenarios) if f.name not in ("arrivals", "gpus")]
    changes = {}
    for key, text, values in _range_pairs(pairs, known):
        if key == "cloud":
            if len(values) != 1:
                raise UserError(f"--range cloud: expected one probability, got {printable(text)}")
            changes[key] = values[0]
            continue
        if len(values) != 2:
            raise UserError(f"--range {key}: expected two numbers LOW,HIGH, got {printable(text)}")
        if key in Scenarios.WHOLE and any(v != int(v) for v in values):
            raise UserError(f"--range {key}: expected whole numbers, got {printable(text)}")
        changes[key] = tuple(int(v) if key in Scenarios.WHOLE else v for v in values)
    try:
        return Scenarios(**changes)
    except ValueError as exc:
        raise UserError(f"--range: {exc}") from None


def cmd_train(args) -> int:
    out = Path(args.output)
    if out.suffix.lower() in (".csv", ".png"):
        raise UserError(f"{printable(args.output)}: the policy file cannot end in .csv or .png (its learning curve "
                        "is written there); name it .pt")
    for path in (out, out.with_suffix(".csv"), out.with_suffix(".png")):
        # The folder is checked once every argument is (_check_output_folder, before the training starts).
        _check_output_path(str(path), args.instances, folder_now=False)
    if args.instances and args.range:
        raise UserError("train: --range describes the generated scenario space; it does not apply to instance files")
    instances = []
    for path in args.instances:
        inst = _load(path)
        if inst.kind != args.kind:
            raise UserError(f"{printable(path)}: is a {inst.kind} instance; edgeopt train {args.kind} takes {args.kind} "
                            "instances")
        instances.append(inst)
    if args.kind == "serving":
        return _train_serving(args, instances)
    if args.imitation:
        raise UserError("train: --imitation is the serving family's warm start; offloading has none")
    ranges = _ranges(args.range)
    try:
        from edgeopt.families.offloading.solvers.mappo import make_config, train
    except ImportError as exc:
        raise UserError(f"train needs the rl extra (pip install -e \".[rl]\"): {exc}") from None
    hyper = _hyperparameters(args.set)
    with _user_input():
        per_update = make_config(args.ippo, **hyper).batch_decisions
    _check_output_folder(args.output)
    _rounded_steps(args, per_update)
    with _user_input():
        report = train(instances, ranges=ranges, steps=args.steps, seed=args.seed, output=args.output,
                       independent_critic=args.ippo, hyperparameters=hyper, progress=not args.quiet)
    gap = "-" if report.final_validation_gap is None else f"{100 * report.final_validation_gap:.3f}%"
    print(fields([("policy", f"{printable(str(report.policy))} ({report.header['algorithm']}, "
                             f"{report.header['content_hash']})"),
                  ("trained", f"{report.decisions:,} decisions, {report.updates} updates, "
                              f"{report.seconds:.1f} s, seed {args.seed}"),
                  ("validation", f"greedy policy's mean gap to offload-ls on the validation instances: {gap} "
                                 "(generated: scenarios the training never draws; files: themselves)"),
                  ("curve", f"{printable(str(report.curve_csv))}, {printable(str(report.curve_png))}")]))
    return EXIT_OK


def _rounded_steps(args, per_update: int) -> None:
    updates = -(-args.steps // per_update)
    if updates * per_update != args.steps:
        print(f"edgeopt: --steps {args.steps:,} is rounded up to {updates} update(s) of about {per_update:,} "
              "decisions (batch_decisions)", file=sys.stderr)


def _train_serving(args, instances) -> int:
    scenarios = _scenarios(args.range)
    from edgeopt.families.serving.solvers.mappo import train
    from edgeopt.rl import make_config

    hyper = _hyperparameters(args.set)
    with _user_input():
        per_update = make_config(args.ippo, **hyper).batch_decisions
    _check_output_folder(args.output)
    _rounded_steps(args, per_update)
    with _user_input():
        report = train(instances, scenarios=scenarios, steps=args.steps, seed=args.seed, output=args.output,
                       independent_critic=args.ippo, hyperparameters=hyper, imitation=args.imitation,
                       progress=not args.quiet)
    gain = "-" if report.final_validation_gain is None else f"{report.final_validation_gain:+.3f}"
    print(fields([("policy", f"{printable(str(report.policy))} ({report.header['algorithm']}, "
                             f"{report.header['content_hash']})"),
                  ("trained", f"{report.decisions:,} decisions, {report.updates} updates, "
                              f"{report.seconds:.1f} s, seed {args.seed}"),
                  ("validation", f"greedy policy's mean gain over myopic on the validation episodes: {gain} objective "
                                 "points per request (generated: episodes the training never draws; files: themselves)"),
                  ("curve", f"{printable(str(report.curve_csv))}, {printable(str(report.curve_png))}")]))
    return EXIT_OK


# -- export ----------------------------------------------------------------------------------------
def cmd_export(args) -> int:
    from edgeopt.backends.highs import export

    out = Path(args.output)
    if out.suffix.lower() not in (".mps", ".lp"):
        raise UserError(f"{args.output}: export writes .mps or .lp files (the suffix picks the format)")
    _check_output_path(args.output, [args.file])
    inst = _load(args.file)
    with _user_input():
        if not edgeopt.family_of(inst).has_formulation:
            export(inst, args.output)  # refuses with the sentence that says why, before any file exists
        with atomic_output(out) as tmp:
            export(inst, str(tmp))
    print(f"wrote {args.output}")
    return EXIT_OK


# -- schema ----------------------------------------------------------------------------------------
def cmd_schema(args) -> int:
    with _user_input():
        family = edgeopt.family(args.kind)
    print(json.dumps(family.schema, indent=2))
    return EXIT_OK


# -- compare ---------------------------------------------------------------------------------------
class _Kept:
    """The finished runs of a sweep stored in OUT/results: those kept from an earlier sweep (told through
    compare's on_row) and the result files written since it started."""

    def __init__(self, out: str | None):
        self.results = None if out is None else Path(out) / "results"
        self.before = self._stored()
        self.earlier = 0

    def _stored(self) -> set[str]:
        if self.results is None or not self.results.is_dir():
            return set()  # temporaries (".<key>.json.<random>.json") are not finished runs
        return {f.name for f in self.results.glob("*.json") if not f.name.startswith(".")}

    def on_row(self, row: dict) -> None:
        self.earlier += bool(row.get("kept"))

    def count(self) -> int:
        return self.earlier + len(self._stored() - self.before)


def cmd_compare(args) -> int:
    from edgeopt.comparison.html import write_reports
    from edgeopt.comparison.sweep import parse_seeds
    from edgeopt.comparison.tables import summary_table

    kept = _Kept(args.out)
    with _user_input():
        seeds = parse_seeds(args.seeds)
        if any(s > MAX_SEED for s in seeds):
            raise ValueError(f"bad seeds spec {args.seeds!r}: seeds go up to {MAX_SEED}")
        solver_names = [n.strip() for n in args.solvers.split(",")]
        if args.update_reference is not None:  # found and read before the sweep, so that a bad one costs nothing
            target = _update_target(args.update_reference if isinstance(args.update_reference, str)
                                    else args.reference, args.paths)
            if target.exists():
                from edgeopt.comparison.reference import read_solu

                read_solu(target)
        unknown = [n for n in solver_names if n not in registry.all_names()]
        if unknown:
            raise ValueError(f"unknown solver {unknown[0]!r}; known: {', '.join(registry.all_names())}")
        kwargs = {} if args.reference is None else {"reference": args.reference}
        try:
            df = edgeopt.compare(args.paths, solver_names, seeds=seeds, time_limit=args.time_limit,
                                 workers=args.workers, dask=args.dask, out=args.out, progress=not args.no_progress,
                                 report=False, sense=args.sense,
                                 on_row=None if args.out is None else kept.on_row, **kwargs)
        except KeyboardInterrupt:
            if args.out is None:
                raise
            print(f"edgeopt: interrupted; {kept.count()} finished run(s) are kept in {printable(args.out)}/results: "
                  "run the same command again to do only the rest", file=sys.stderr)
            return EXIT_INTERRUPTED
    # Outside _user_input: a failure while writing the reports is a fault of the program, not of the input.
    written = [] if args.out is None else write_reports(df, Path(args.out))
    print(summary_table(df))
    if args.out is not None:
        out = Path(args.out)
        files = [out / "results.csv", out / "results.json", *written, out / "results"]
        print("\nwrote " + ", ".join(printable(str(f)) + ("/" if f.name == "results" else "") for f in files))
    if args.update_reference is not None:
        _update_reference(df, target)
    return EXIT_OK


def cmd_tour(args) -> int:
    from edgeopt.comparison.tour import tour

    def say(line: str) -> None:
        print(line, flush=True)

    out = Path(args.out)
    try:
        with _user_input():
            families = None if args.families is None else [f.strip() for f in args.families.split(",")]
            df = tour(args.instances, out, workers=args.workers, families=families, time_scale=args.time_scale,
                      say=say)
    except KeyboardInterrupt:
        kept = len(list((out / "results").glob("*.json"))) if (out / "results").is_dir() else 0
        print(f"edgeopt: interrupted; {kept} finished run(s) are kept in {printable(str(out))}/results: run the same "
              f"command again to do only the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not df.empty:
        print(f"\nwrote {printable(str(out / 'report.html'))} (the report, with plots), "
              f"{printable(str(out / 'tour.md'))}, {printable(str(out / 'results.csv'))}")
    return EXIT_OK


def _update_target(named: str | None, paths: Sequence[str]) -> Path:
    """The .solu file --update-reference writes: the one named, else the nearest one beside the instances
    (never the copy inside the installed package)."""
    from edgeopt.comparison.reference import PACKAGED, candidates

    if named is not None:
        return Path(named)
    beside = [c for c in candidates(paths) if c != PACKAGED]
    if not beside:
        raise UserError("--update-reference: no reference.solu beside the instances; name the file to write "
                        "(--update-reference FILE)")
    return beside[0]


def _update_reference(df, path: Path) -> None:
    """Write newly proven optima, better solutions and tighter bounds back, and say what changed."""
    from edgeopt.comparison.reference import comment_lines, improve, read_solu, write_solu

    with _user_input():
        old = read_solu(path) if path.exists() else {}
        comments = comment_lines(path) if path.exists() else ["# Reference values (MIPLIB .solu style)"]
    new, changes = improve(old, df)
    if not changes:
        print(f"\nreference {path}: nothing to change")
        return
    print(f"\nreference {path}:")
    for line in changes:
        print(f"  {line}")
    if new != old:
        with _user_input():
            write_solu(path, new, comments)


# -- the parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    kinds = sorted(registry.FAMILIES)
    parser = argparse.ArgumentParser(
        prog="edgeopt",
        description="Optimization models and solvers for serving generative AI at the edge.",
        epilog="Exit codes: 0 answered, 1 no answer or infeasible solution (check), 2 bad input, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"edgeopt {edgeopt.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("solve", help="solve instance files with one solver",
                       description="Solve each FILE; one instance prints the full result, several (several files, "
                                   "or an OR-Library file's problems) print a table, one line each, with the gap "
                                   "to the reference value where one is known.")
    p.add_argument("files", nargs="+", metavar="FILE", help="instance file(s): JSON, or OR-Library GAP text")
    p.add_argument("--sense", choices=("min", "max"),
                   help="for OR-Library GAP files whose name does not tell (gap1-gap12 max, gapa-gapd min)")
    p.add_argument("--reference", metavar="SOLU",
                   help="reference values (.solu, matched by instance name) for the table's ref_gap column; "
                        "default: the bundled instances/reference.solu when present")
    p.add_argument("--solver", help="solver name (see `edgeopt solvers`); default: each family's exact method "
                                    "(highs for deployment and gap, enumerate, offload-oa, hindsight)")
    p.add_argument("--time-limit", type=_positive_seconds, metavar="S",
                   help="time limit of each solve, in seconds: per file, and per problem of an OR-Library file "
                        "(each of its problems is one solve)")
    p.add_argument("--problem", metavar="NAME|K",
                   help="only this problem of each file: its name as `edgeopt show` prints it (gap1-3) or its "
                        "number, from 1")
    p.add_argument("--seed", type=_int_at_least(0, MAX_SEED), metavar="N", help="random seed (0 to 2^31-1)")
    p.add_argument("--warm-start", metavar="SOLVER|SOLUTION",
                   help="MILP backends: start from this solver's plan (run first, inside the time limit) or from a "
                        "solution file of the instance")
    p.add_argument("--cuts", metavar="NAMES",
                   help="MILP backends: valid inequalities to add to the formulation, comma-separated "
                        "(deployment: compute, cover; docs/formulations.md)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a solver option, repeatable (e.g. --solver mappo --option policy=my.pt --option "
                        "allocation=slsqp); a wrong name or value exits 2 naming the options the solver takes")
    p.add_argument("-o", "--output", metavar="SOLUTION",
                   help="write the solution file (one FILE only; not written if the solve found no solution)")
    p.set_defaults(func=cmd_solve)

    p = sub.add_parser("train", help="train a learned solver's policy (offloading, serving: mappo, ippo)",
                       description="Train a MAPPO policy (IPPO with --ippo) for the offloading or the serving family "
                                   "on scenarios drawn from a space of generated instances (--range) or on instance "
                                   "files; writes the policy file, its learning curve as CSV and PNG beside it. "
                                   "`edgeopt solve FILE --solver mappo` uses the shipped policy; a trained one is "
                                   "passed with --option policy=POLICY (docs/solvers.md).")
    p.add_argument("kind", choices=["offloading", "serving"], help="the family (offloading or serving)")
    p.add_argument("instances", nargs="*", metavar="INSTANCE", help="instance files of the family to train on "
                   "(offloading: their slots in turn; serving: whole episodes); none: generated scenarios")
    p.add_argument("--range", action="append", default=[], metavar="NAME=LOW,HIGH",
                   help="a range of the scenario space, repeatable. offloading: cells, users_per_cell, delay_factor, "
                        "energy_factor, refusal_factor, cloud_price_factor, cell_radius_m, uplink_mhz, "
                        "request_probability (LOW,HIGH); cloud, free_refusal (a probability); slots. serving: users "
                        "(per cell), edges, slots, request_rate, diurnal_amplitude, delay_per_second, "
                        "loading_per_second, refusal_penalty (LOW,HIGH); cloud (a probability) (docs/solvers.md)")
    p.add_argument("--steps", type=_int_at_least(1, 10 ** 9), required=True, metavar="N",
                   help="decisions (user turns) in all, rounded up to whole updates of batch_decisions (8,192)")
    p.add_argument("--seed", type=_int_at_least(0, MAX_SEED), default=0, metavar="S", help="seed of every random "
                   "source (default 0)")
    p.add_argument("--ippo", action="store_true", help="independent critics (IPPO) instead of a centralised one")
    p.add_argument("--imitation", type=_int_at_least(0, 10 ** 6), default=0, metavar="U",
                   help="serving: the first U updates clone forward-greedy's rows on the states the policy visits "
                        "(a warm start), the rest PPO (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a hyperparameter, repeatable (a MAPPOConfig field: gamma, batch_decisions, ppo_epoch, ...; "
                        "docs/solvers.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, metavar="POLICY", help="policy file to write (.pt)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("check", help="evaluate a solution file against its instance",
                       description="Recompute the objective and every constraint; exit 1 if any is violated.")
    p.add_argument("file", metavar="FILE", help="instance file")
    p.add_argument("solution", metavar="SOLUTION", help="solution file written by `edgeopt solve -o`")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("show", help="summarise an instance file")
    p.add_argument("file", metavar="FILE", help="instance file (every problem of an OR-Library GAP file)")
    p.add_argument("--sense", choices=("min", "max"),
                   help="for OR-Library GAP files whose name does not tell (gap1-gap12 max, gapa-gapd min)")
    p.add_argument("--problem", metavar="NAME|K",
                   help="only this problem of the file: its name (gap1-3) or its number, from 1")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("solvers", help="list the solvers and whether each is installed",
                       description="Every (family, solver) pair: exact or not, whether it proves a bound, whether "
                                   "it is available, and what it does (the first sentence; --long: all of it). "
                                   "'available' here means the packages the solver needs are installed (found "
                                   "without importing them, which takes seconds for torch); a solve imports "
                                   "them and names the one that fails.")
    p.add_argument("-l", "--long", "-v", "--verbose", dest="long", action="store_true",
                   help="the full descriptions, wrapped to the terminal's width")
    p.set_defaults(func=cmd_solvers)

    p = sub.add_parser("generate", help="write a seeded, generated instance")
    gen = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, family in sorted(registry.FAMILIES.items()):
        g = gen.add_parser(kind, help=family.title, description=f"A seeded {kind} instance: {family.title}.")
        _generator_arguments(g, family)
        g.set_defaults(func=cmd_generate)

    p = sub.add_parser("export", help="write an instance's MILP as MPS or LP (through HiGHS)")
    p.add_argument("file", metavar="FILE", help="instance file")
    p.add_argument("-o", "--output", required=True, metavar="MODEL", help="model.mps or model.lp")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("compare", help="run solvers over instances and seeds; gaps to reference values",
                       description="Run every solver on every instance (files or folders; an OR-Library file gives "
                                   "one instance per problem) with every seed, in worker processes or on a Dask "
                                   "cluster; print the table of gaps to the reference values (proven optimum, else "
                                   "proven bound, else the best solution of the run). With --out, finished runs "
                                   "are stored at once and a re-run does only the missing ones (Ctrl-C says how "
                                   "many are kept).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="instance file or folder")
    p.add_argument("--solvers", required=True, metavar="A,B,C", help="solver names, comma-separated")
    p.add_argument("--seeds", default="0", metavar="SPEC", help="seeds: N, A-B (inclusive) or N,M,... (default 0)")
    p.add_argument("--time-limit", type=_positive_seconds, metavar="S", help="time limit per run, in seconds")
    p.add_argument("--sense", choices=("min", "max"),
                   help="for OR-Library GAP files whose name does not tell (gap1-gap12 max, gapa-gapd min); as "
                        "for solve, every file is read with it (a JSON file must state the same sense)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_int_at_least(1), metavar="N",
                       help="local worker processes (default: the number of cores)")
    where.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler (tcp://host:port)")
    p.add_argument("--out", metavar="DIR",
                   help="write results.csv, results.json, one file per finished run, and the reports here")
    p.add_argument("--reference", metavar="SOLU",
                   help="reference values (.solu); default: the bundled instances/reference.solu when present")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--update-reference", nargs="?", const=True, metavar="SOLU",
                   help="write newly proven optima, better solutions and tighter bounds to SOLU (default: the "
                        "--reference file, else instances/reference.solu), printing every change")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("tour", help="every family: exact methods against heuristics and learned solvers (a few "
                                    "minutes)",
                       description="The first command to run: for every family, its exact method against its "
                                   "heuristics and learned solvers on a few bundled instances (about two minutes on "
                                   "two cores). One line per run as it finishes; then, per family, each method's gap "
                                   "to the proven optimum and its time, in the terminal, DIR/tour.md and "
                                   "DIR/report.html. Ctrl-C keeps the finished runs; running it again does only "
                                   "the rest.")
    p.add_argument("--instances", default="instances", metavar="DIR",
                   help="the bundled instances folder (default: instances, in the clone's top folder)")
    p.add_argument("--out", default="edgeopt-tour", metavar="DIR", help="where results and reports go "
                                                                        "(default: edgeopt-tour)")
    p.add_argument("--families", metavar="A,B", help=f"only these families ({', '.join(kinds)})")
    p.add_argument("--workers", type=_int_at_least(1), metavar="N", help="worker processes (default: the cores)")
    p.add_argument("--time-scale", type=_positive("a positive factor"), default=1.0, metavar="X",
                   help="multiply every run's time limit by X (default 1)")
    p.set_defaults(func=cmd_tour)

    p = sub.add_parser("schema", help="print the JSON Schema of an instance kind")
    p.add_argument("kind", metavar="KIND", choices=kinds, help=f"one of: {', '.join(kinds)}")
    p.set_defaults(func=cmd_schema)
    return parser


def _keep_stderr() -> int | None:
    """A copy of file descriptor 2 as it is now, before a backend may redirect it (Pyomo's HiGHS interface
    captures descriptors 1 and 2 while it solves); None if there is none."""
    try:
        return os.dup(2)
    except OSError:
        return None


def _say_interrupted(terminal: int | None) -> None:
    """"edgeopt: interrupted" on standard error. A backend left running after Ctrl-C may still hold standard
    error redirected (its capture ends only when it returns), so the line then goes to ``terminal``, the
    descriptor kept before the solve; otherwise it is printed as usual."""
    from edgeopt.interrupt import abandoned

    if terminal is not None and abandoned():
        try:
            os.write(terminal, b"edgeopt: interrupted\n")
            return
        except OSError:
            pass  # the saved descriptor is gone: say it on sys.stderr below instead
    print("edgeopt: interrupted", file=sys.stderr)


def run() -> None:
    """The console script and ``python -m edgeopt``: :func:`main`, then leave with its exit code.

    After Ctrl-C a backend that has not stopped yet (HiGHS looks at its interrupt only between phases) is
    left behind: the process ends with ``os._exit`` once the streams are flushed, rather than waiting for it or
    shutting the interpreter down under it. Every file was already closed or removed by then.
    """
    from edgeopt.interrupt import abandoned

    code = main()
    if code == EXIT_INTERRUPTED and abandoned():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed or broken stream has nothing left to flush; leave anyway
        os._exit(code)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):  # whatever the terminal's encoding, printing never fails
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    terminal = _keep_stderr()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits on --help, --version and usage errors
            return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
        return args.func(args)
    except InstanceError as exc:  # its file name and keys are already printable
        print(f"edgeopt: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UserError as exc:
        text = str(exc) if isinstance(exc, _Several) else printable(str(exc))
        print(f"edgeopt: error: {text}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _say_interrupted(terminal)
        return EXIT_INTERRUPTED
    except ModuleNotFoundError as exc:  # an optional package (torch, dask) the command needs
        missing = registry.missing_extra(exc)
        if missing is None:
            raise
        print(f"edgeopt: error: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader went away (`edgeopt show x | head`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_NO_ANSWER
    finally:
        if terminal is not None:
            os.close(terminal)
