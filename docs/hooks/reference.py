"""MkDocs hook: generate the CLI and config reference pages from the code, so they cannot drift from it.

A page holding the marker `<!-- generated: cli -->` gets the command tree of the typer app `hardness.cli:app`
(usage, help and every option of every command, as `--help` renders them); one holding `<!-- generated: config -->`
gets every field of the pydantic models in `hardness.config` with its type, default, constraints, command-line
option and description (the field's attribute docstring, else the help of the option that sets it).
"""

from __future__ import annotations

import ast
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT, Path(__file__).resolve().parent):  # a checkout that need not be installed; plain_docstrings
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from plain_docstrings import escape_plain  # noqa: E402

CLI_MARKER = "<!-- generated: cli -->"
CONFIG_MARKER = "<!-- generated: config -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, render_cli())
    if CONFIG_MARKER in markdown:
        markdown = markdown.replace(CONFIG_MARKER, render_config())
    return markdown


# ---------------------------------------------------------------------------------------------------- the CLI


def _cell(text: str, *, prose: bool = True) -> str:
    """Text made safe for one Markdown table cell: prose shown as written (brackets and `<` included, pipes escaped);
    otherwise the text of a code span, where Python-Markdown's tables leave pipes alone (and would show a `\\|`)."""
    text = " ".join(text.split())
    return escape_plain(text).replace("|", "\\|") if prose else text


def _command_section(command: Any, context: Any, path: str, level: int) -> list[str]:
    lines = [f"{'#' * level} `{path}`", ""]
    if command.help:
        lines += [escape_plain(inspect.cleandoc(command.help)), ""]
    lines += ["```text", command.get_usage(context).strip(), "```", ""]
    records = [(param, param.get_help_record(context)) for param in command.get_params(context)]
    records = [(param, record) for param, record in records if record is not None and not param.hidden]
    if records:
        lines += ["| argument or option | description |", "| --- | --- |"]
        for param, (declaration, help_text) in records:
            required = " **(required)**" if param.required and "[required]" not in help_text else ""
            lines.append(f"| `{_cell(declaration, prose=False)}` | {_cell(help_text)}{required} |")
        lines.append("")
    return lines


def render_cli() -> str:
    """Markdown for the whole `hardness` command tree, one section per command in the app's order."""
    import typer

    from hardness.cli import app

    root = typer.main.get_command(app)
    context = root.context_class(root, info_name="hardness")
    lines = _command_section(root, context, "hardness", 2)
    for name, command in getattr(root, "commands", {}).items():
        if command.hidden:
            continue
        sub_context = command.context_class(command, info_name=name, parent=context)
        lines += _command_section(command, sub_context, f"hardness {name}", 2)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- the config


def attribute_docstrings(module: types.ModuleType) -> dict[tuple[str, str], str]:
    """{(class name, field name): docstring} for every string literal that directly follows an annotated field."""
    tree = ast.parse(inspect.getsource(module))
    found: dict[tuple[str, str], str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for field, following in zip(node.body, node.body[1:]):
            if (isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                found[(node.name, field.target.id)] = inspect.cleandoc(following.value.value)
    return found


def _type_name(annotation: Any, sections: dict[type, str]) -> str:
    """A readable type: `int | None`, `"sgd" | "adam"`, `tuple[float, ...]`, a link for a nested section."""
    if annotation in sections:
        return f"[{annotation.__name__}](#{sections[annotation]})"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{arg}"`' if isinstance(arg, str) else f"`{arg}`" for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(arg, sections) for arg in args)
    if annotation is type(None):
        return "`null`"
    if origin is not None:
        inner = ", ".join("..." if arg is Ellipsis else _plain_type(arg) for arg in args)
        return f"`{origin.__name__}[{inner}]`"
    return f"`{getattr(annotation, '__name__', str(annotation))}`"


def _plain_type(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def _yaml_value(value: Any) -> str:
    """A default as it is written in a config file."""
    import yaml

    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _constraints(metadata: list[Any]) -> str:
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    parts = [f"{symbols[key]} {getattr(item, key)}" for item in metadata for key in symbols if hasattr(item, key)]
    return " and ".join(parts)


def render_config() -> str:
    """Markdown for every section and field of `hardness.config.Config`, then the defaults as one YAML file."""
    import typer
    from pydantic import BaseModel

    from hardness import catalogue, cli, config

    docstrings = attribute_docstrings(config)
    root_command = typer.main.get_command(cli.app)
    option_help: dict[str, tuple[str, str]] = {}  # config field -> (option, help of its first command)
    for command in getattr(root_command, "commands", {}).values():
        for param in command.params:
            field = cli.OPTION_FIELDS.get(param.name)
            if field and field not in option_help and param.opts:
                option_help[field] = (param.opts[0], param.help or "")
    choices = {"data.name": catalogue.DATASET_NAMES, "identifier.name": catalogue.IDENTIFIERS,
               "train.device": catalogue.DEVICES, "detect.types": catalogue.INJECTION_TYPES,
               "benchmark.identifiers": (*catalogue.IDENTIFIERS, config.ALL_IDENTIFIERS),
               "detect.identifiers": (*catalogue.IDENTIFIERS, config.ALL_IDENTIFIERS)}

    sections: dict[type, str] = {}
    order: list[tuple[str, type]] = [("", config.Config)]
    for name, field in config.Config.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            order.append((name, field.annotation))
    for prefix, model in order:
        sections[model] = prefix or "top-level-fields"

    lines: list[str] = []
    for prefix, model in order:
        title = f"`{prefix}:`" if prefix else "Top-level fields"
        lines += [f"## {title} {{#{sections[model]}}}", ""]
        lines += [f"*{model.__name__}*: {escape_plain(inspect.cleandoc(model.__doc__ or ''))}", ""]
        lines += ["| field | type | default | description |", "| --- | --- | --- | --- |"]
        for name, field in model.model_fields.items():
            if prefix == "" and field.annotation in sections:
                continue  # the sections have their own tables
            key = f"{prefix}.{name}" if prefix else name
            option, help_text = option_help.get(key, ("", ""))
            parts = [_cell(field.description or docstrings.get((model.__name__, name), "") or help_text)]
            if key in choices and not all(choice in parts[0] for choice in choices[key]):
                parts.append(f"One of {', '.join(f'`{c}`' for c in choices[key])}.")
            if _constraints(field.metadata):
                parts.append(f"Must be {_constraints(field.metadata)}.")
            if option:
                parts.append(f"Option `{option}`.")
            default = field.get_default(call_default_factory=True)
            lines.append(f"| `{name}` | {_type_name(field.annotation, sections)} "
                         f"| `{_cell(_yaml_value(default), prose=False)}` | {' '.join(p for p in parts if p)} |")
        lines.append("")

    defaults = config.dump_config(config.Config())
    lines += ["## All defaults as one file {#all-defaults}", "",
              "The resolved default configuration, as `hardness` logs it beside a run (`config.yaml`):", "",
              "```yaml", defaults.rstrip(), "```", ""]
    return "\n".join(lines)
