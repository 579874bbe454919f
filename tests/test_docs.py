"""The documentation's code blocks run, or say why they cannot.

Every fenced code block of README.md and docs/**/*.md is one of:
- marked not runnable by an HTML comment on the line right above it, `<!-- not-run: REASON -->`, with a reason;
- runnable: `python` (executed as a script), `bash` / `shell` / `sh` / `console` whose every command is a
  `hardness ...` command (executed), `yaml` (validated as a config file).
The fast suite checks that every block is one or the other, that YAML blocks are valid configs, the README's length and
that the code layout in docs/development.md lists the package as it is on disk; the slow suite runs the blocks, those
of one page in order in one temporary folder (so a page can make a file, then use it), against a fresh MLflow store
there, with `configs/` of the repository at hand.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 250
QUICK_START = ('python -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && '
               "hardness run configs/quickstart.yaml", "python -m pytest")

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:(?P<reason>.*?)-->\s*$")
SHELLS = ("bash", "shell", "sh", "console")
SHELL_OPERATORS = set("();<>|&")
COMMAND_TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it starts, its language, its code and its not-run reason (None: unmarked)."""

    path: Path
    line: int
    language: str
    code: str
    reason: str | None
    end: int = 0

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def collect_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of one Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        assert end is not None, f"{path.relative_to(ROOT)}:{i + 1}: code block never closed"
        code = "\n".join(line[indent:] if line[:indent].strip() == "" else line for line in lines[i + 1:end])
        mark = NOT_RUN.match(lines[i - 1]) if i > 0 else None
        blocks.append(Block(path, i + 1, opening["info"].lower(), code, mark["reason"].strip() if mark else None,
                            end + 1))
        i = end + 1
    return blocks


def shell_commands(block: Block) -> list[list[str]] | None:
    """The argument lists of a shell block made only of `hardness ...` commands, else None (not runnable)."""
    text = block.code
    if block.language == "console":  # `$ command` lines; the others are output
        text = "\n".join(line[2:] for line in text.splitlines() if line.startswith("$ "))
    commands = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if "$" in line or "`" in line:
            return None  # expansions mean a shell, not an argument list
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        words = list(lexer)
        if not words:
            continue
        if words[0] != "hardness" or any(set(word) <= SHELL_OPERATORS for word in words):
            return None
        commands.append(words)
    return commands or None


def runnable_kind(block: Block) -> str | None:
    """How the tests run an unmarked block: "python", "shell", "yaml", or None when they cannot."""
    if block.language == "python":
        return "python"
    if block.language in SHELLS and shell_commands(block) is not None:
        return "shell"
    if block.language in ("yaml", "yml"):
        return "yaml"
    return None


BLOCKS = [block for document in DOCUMENTS for block in collect_blocks(document)]


def test_every_block_runs_or_says_why():
    assert BLOCKS, "no code blocks found"
    unexplained = [f"{b.where} ({b.language or 'no language'})" for b in BLOCKS if b.reason is None
                   and runnable_kind(b) is None]
    assert not unexplained, ("blocks neither runnable (python, hardness commands, yaml configs) nor marked "
                             "<!-- not-run: REASON --> on the line above: " + ", ".join(unexplained))
    no_reason = [b.where for b in BLOCKS if b.reason is not None and not b.reason]
    assert not no_reason, "not-run marks without a reason: " + ", ".join(no_reason)


def test_every_not_run_mark_sits_on_a_block():
    stray = []
    for document in DOCUMENTS:
        lines = document.read_text(encoding="utf-8").splitlines()
        inside = {number for b in collect_blocks(document) for number in range(b.line, b.end + 1)}
        openings = {b.line for b in collect_blocks(document)}
        for number, line in enumerate(lines, 1):
            if number not in inside and NOT_RUN.match(line) and number + 1 not in openings:
                stray.append(f"{document.relative_to(ROOT)}:{number}")
    assert not stray, "not-run marks that are not right above a code block: " + ", ".join(stray)


def test_shell_blocks_are_recognised():
    plain = Block(ROOT, 1, "bash", 'hardness run --set "x=[1, 2]" \\\n    --epochs 3   # a comment\n', None)
    assert shell_commands(plain) == [["hardness", "run", "--set", "x=[1, 2]", "--epochs", "3"]]
    for code in ("hardness run && hardness report", "hardness search &", "docker build .", "hardness run > out",
                 'hardness run --tracking-uri "sqlite:///$PWD/db"', "export X=1"):
        assert shell_commands(Block(ROOT, 1, "bash", code, None)) is None, code
    console = Block(ROOT, 1, "console", "$ hardness --version\nhardness 0.1.0\n", None)
    assert shell_commands(console) == [["hardness", "--version"]]


def test_readme_is_short_and_keeps_the_quick_start():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    commands = [line for block in collect_blocks(ROOT / "README.md") for line in block.code.splitlines()]
    for command in QUICK_START:
        assert command in commands


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A temporary working folder holding the repository's configs/, as the docs' blocks expect."""
    (tmp_path / "configs").symlink_to(ROOT / "configs", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


YAML_BLOCKS = [block for block in BLOCKS if block.reason is None and runnable_kind(block) == "yaml"]


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[block.where for block in YAML_BLOCKS])
def test_yaml_blocks_are_valid_configs(block, folder):
    from hardness.config import load_config

    path = folder / "block.yaml"
    path.write_text(block.code, encoding="utf-8")
    load_config(path)  # a UserError names what is wrong


def _run(args: list[str], folder: Path, env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, f"{what} exited {done.returncode}:\n{(done.stdout + done.stderr)[-4000:]}"


RUN_DOCUMENTS = [document for document in DOCUMENTS
                 if any(b.reason is None and runnable_kind(b) in ("python", "shell") for b in collect_blocks(document))]


@pytest.mark.slow
@pytest.mark.parametrize("document", RUN_DOCUMENTS, ids=[str(d.relative_to(ROOT)) for d in RUN_DOCUMENTS])
def test_runnable_blocks_run(document, folder, tracking_uri):
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "COLUMNS": "160",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for number, block in enumerate(collect_blocks(document)):
        kind = runnable_kind(block) if block.reason is None else None
        if kind == "python":
            script = folder / f"block_{number}.py"
            script.write_text(block.code, encoding="utf-8")
            _run([sys.executable, str(script)], folder, env, block.where)
        elif kind == "shell":
            for words in shell_commands(block):
                _run([sys.executable, "-m", "hardness", *words[1:]], folder, env, f"{block.where}: {shlex.join(words)}")


# ---------------------------------------------------------------------------------------------- the code layout


def layout_tree() -> dict[str, str]:
    """{path: description} of the `hardness/` tree in docs/development.md (folders end in /)."""
    tree = next(block for block in collect_blocks(ROOT / "docs" / "development.md")
                if block.code.startswith("hardness/"))
    entries, parents = {}, []
    for line in tree.code.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name, _, description = line.strip().partition(" ")
        parents = parents[:depth] + [name]
        entries["".join(parents)] = description.strip()
    return entries


def test_code_layout_lists_the_package_as_it_is():
    documented = layout_tree()
    on_disk = {f"{path.relative_to(ROOT).as_posix()}" for path in (ROOT / "hardness").rglob("*.py")}
    on_disk |= {f"{path.relative_to(ROOT).as_posix()}/" for path in (ROOT / "hardness").rglob("*")
                if path.is_dir() and any(path.rglob("*.py"))}
    on_disk.add("hardness/")
    assert set(documented) - on_disk == set(), "docs/development.md lists modules that do not exist"
    assert on_disk - set(documented) == set(), "modules missing from the code layout in docs/development.md"
    assert all(documented[path] for path in documented if path != "hardness/"), "every entry says its job"


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="the docs extra is not installed (pip install -e '.[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-4000:]
