"""The docs stand alone in a clone: every relative Markdown link and every repository path they name
resolves to a file of the repository, and no tracked file points at a folder outside it."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The Markdown files checked: the README, the docs, the benchmarks' and the instances' notes.
DOC_GLOBS = ("README.md", "docs/*.md", "benchmarks/**/*.md", "instances/**/README.md")

#: Extensions that make a backticked or bare token a file path.
EXT = r"(?:md|py|json|tsv|txt|toml|solu|csv|pt|yaml|yml|cfg|sh|LICENSE)"
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(rf"^[\w.-]+(?:/[\w.-]+)+\.{EXT}$")
#: A path in prose or a command, not backticked, that starts at one of the repository's top folders.
BARE = re.compile(rf"(?<![\w/.-])((?:docs|tests|benchmarks|instances|edgeopt|\.ci)/[\w./-]*\.{EXT})(?![\w/])")
#: Paths in other public repositories, each accepted only with its repository named just before it.
EXTERNAL = {
    "data/AzureLLMInferenceTrace_code.csv": "Azure/AzurePublicDataset",
    "onpolicy/config.py": "marlbenchmark/on-policy",
}
#: Strings that name a folder outside the repository (built in pieces so this file does not hold them).
OUTSIDE = (".." + "/shared", "shared" + "/data", "/work" + "/shared", "/work" + "/main")
#: The CI harness may name the folder CI places beside the clone.
OUTSIDE_ALLOWED = {".ci/run"}
NEWLINE = b"\n"


def doc_files() -> list[Path]:
    found = {p for pattern in DOC_GLOBS for p in ROOT.glob(pattern) if p.is_file()}
    return sorted(found)


def is_placeholder(token: str) -> bool:
    """FOLDER/x.csv, KIND/x.json: a capitalised word stands for a name the reader picks."""
    *folders, last = token.split("/")
    stem = last.split(".")[0]
    return any(re.fullmatch(r"[A-Z][A-Z_]+", part) for part in folders) or (
        re.fullmatch(r"[A-Z][A-Z_]+", stem) is not None and stem not in ("README", "LICENSE"))


def resolves(doc: Path, target: str) -> bool:
    return (doc.parent / target).exists() or (ROOT / target).exists()


def broken_references(doc: Path, text: str | None = None) -> list[str]:
    """Each reference of ``doc`` (its text unless ``text`` is given) that names no file, as file:line: target."""
    if text is None:
        text = doc.read_text(encoding="utf-8")
    where = doc.relative_to(ROOT).as_posix()
    bad = []

    def line(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = target.split("#")[0]
        if not (doc.parent / path).exists():  # a Markdown link is relative to its own file
            bad.append(f"{where}:{line(m.start())}: link ({target})")
    for m in CODE.finditer(text):
        for token in re.split(r"[\s\"'()=,;\[\]]+", m.group(1)):
            if not PATH.match(token) or is_placeholder(token) or resolves(doc, token):
                continue
            repo = EXTERNAL.get(token)
            if repo is not None and repo in text[max(0, m.start() - 200):m.start()]:
                continue
            bad.append(f"{where}:{line(m.start())}: `{token}`")
    for m in BARE.finditer(text):
        token = m.group(1)
        if not is_placeholder(token) and not resolves(doc, token):
            bad.append(f"{where}:{line(m.start())}: {token}")
    return bad


def tracked_files() -> list[Path]:
    """The files git tracks; without git (an unpacked archive), every file outside hidden folders."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
        names = [n for n in out.stdout.decode().split("\0") if n]
        if names:
            return [ROOT / n for n in names]
    except (OSError, subprocess.SubprocessError):
        pass  # no git here (an unpacked archive): walk the tree below instead
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__" and not d.endswith(".egg-info")]
        files += [Path(folder) / n for n in names]
    return files


def test_the_checked_docs_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in doc_files()}
    assert {"README.md", "docs/architecture.md", "docs/catalog.md", "instances/gap/README.md",
            "benchmarks/README.md"} <= names


def test_every_relative_link_and_named_path_in_the_docs_resolves():
    bad = [ref for doc in doc_files() for ref in broken_references(doc)]
    assert not bad, "references to files the repository does not have:\n" + "\n".join(bad)


def test_the_checker_finds_a_broken_link_a_missing_path_and_skips_urls_and_placeholders():
    doc = ROOT / "docs" / "_probe.md"  # never written: its text is passed in
    text = ("[ok](solvers.md#one-proof-tolerance) [up](../README.md) [gone](missing.md) [web](https://x.org/a.md)\n"
            "`docs/solvers.md` `benchmarks/serving.py` `docs/nowhere.md` `FOLDER/x.csv` `out/*.json`\n"
            "see tests/test_gap.py and tests/test_not_here.py; Azure/AzurePublicDataset "
            "`data/AzureLLMInferenceTrace_code.csv`; `data/AzureLLMInferenceTrace_conv.csv`\n")
    assert broken_references(doc, text) == [
        "docs/_probe.md:1: link (missing.md)",
        "docs/_probe.md:2: `docs/nowhere.md`",
        "docs/_probe.md:3: `data/AzureLLMInferenceTrace_conv.csv`",
        "docs/_probe.md:2: docs/nowhere.md",
        "docs/_probe.md:3: tests/test_not_here.py",
    ]


def test_no_tracked_file_names_a_folder_outside_the_repository():
    bad = []
    for path in tracked_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel in OUTSIDE_ALLOWED or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary: a policy's weights, an image
        for needle in OUTSIDE:
            pos = data.find(needle.encode())
            if pos >= 0:
                bad.append(f"{rel}:{data.count(NEWLINE, 0, pos) + 1}: {needle}")
    assert not bad, "paths outside the repository:\n" + "\n".join(bad)
