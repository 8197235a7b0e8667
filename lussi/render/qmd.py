"""Parse Quarto ``.qmd`` documents and merge their configuration.

Only the subset of Quarto syntax that lussi's report uses is understood:
YAML front matter, executable ```` ```{python} ```` cells with leading
``#| key: value`` option lines, inline ```{python} expr``` expressions, and
``_quarto.yml`` next to the document. Everything else is passed to pandoc
as markdown.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = [
    "CodeCell",
    "MarkdownChunk",
    "QmdDocument",
    "QmdSyntaxError",
    "format_config",
    "load_project_config",
    "merge_config",
    "parse_qmd",
]

FORMATS = ("html", "revealjs")

_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,})\s*\{(?P<lang>[A-Za-z0-9_+-]+)(?P<rest>[^}]*)\}\s*$")
_OPTION_LINE = re.compile(r"^#\|\s?(?P<text>.*)$")
INLINE_EXPR = re.compile(r"`\{python\}\s+(?P<expr>[^`]+?)\s*`")


class QmdSyntaxError(ValueError):
    """A ``.qmd`` document or its ``_quarto.yml`` cannot be parsed."""


@dataclass(frozen=True)
class MarkdownChunk:
    """Markdown text between code cells.

    Attributes
    ----------
    text : str
        The markdown, verbatim.
    first_line : int
        1-based line number of the chunk's first line in the ``.qmd``.
    """

    text: str
    first_line: int


@dataclass(frozen=True)
class CodeCell:
    """One executable ```` ```{python} ```` cell.

    Attributes
    ----------
    source : str
        Code without the ``#|`` option lines.
    options : dict
        Cell options parsed from the leading ``#| key: value`` lines (YAML).
    first_line, last_line : int
        1-based line numbers of the opening and closing fences in the ``.qmd``.
    number : int
        1-based position among the document's code cells.
    """

    source: str
    options: dict
    first_line: int
    last_line: int
    number: int

    @property
    def label(self) -> str | None:
        """The ``label`` cell option, if any."""
        label = self.options.get("label")
        return None if label is None else str(label)

    def describe(self) -> str:
        """Name the cell for error messages: label (or number) and line range."""
        name = f"'{self.label}'" if self.label else f"#{self.number}"
        return f"cell {name} (lines {self.first_line}-{self.last_line})"


@dataclass(frozen=True)
class QmdDocument:
    """A parsed ``.qmd`` document.

    Attributes
    ----------
    front_matter : dict
        The YAML front matter (empty if there is none).
    chunks : list of MarkdownChunk or CodeCell
        The body, in document order.
    """

    front_matter: dict
    chunks: list = field(default_factory=list)

    @property
    def cells(self) -> list[CodeCell]:
        """The executable cells, in document order."""
        return [chunk for chunk in self.chunks if isinstance(chunk, CodeCell)]


def _load_yaml(text: str, where: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise QmdSyntaxError(f"invalid YAML in {where}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise QmdSyntaxError(f"{where} must be a YAML mapping, got {type(data).__name__}")
    return data


def parse_qmd(text: str, *, source_name: str = "document") -> QmdDocument:
    """Split a ``.qmd`` document into front matter, markdown and code cells.

    Parameters
    ----------
    text : str
        The document.
    source_name : str, optional
        Name used in error messages.

    Returns
    -------
    QmdDocument

    Raises
    ------
    QmdSyntaxError
        Unterminated front matter or code cell, invalid YAML, or an
        executable cell in a language other than Python.
    """
    lines = text.splitlines()
    front_matter, start = _front_matter(lines, source_name)
    chunks: list = []
    markdown: list[str] = []
    markdown_start = start + 1
    number = 0
    i = start
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i])
        if match is None:
            markdown.append(lines[i])
            i += 1
            continue
        number += 1
        cell = _code_cell(lines, i, match, number, source_name)
        if markdown:
            chunks.append(MarkdownChunk("\n".join(markdown), markdown_start))
        chunks.append(cell)
        markdown = []
        markdown_start = cell.last_line + 1
        i = cell.last_line  # the line after the closing fence (0-based)
    if markdown:
        chunks.append(MarkdownChunk("\n".join(markdown), markdown_start))
    return QmdDocument(front_matter, chunks)


def _front_matter(lines: list[str], source_name: str) -> tuple[dict, int]:
    """The YAML front matter and the index of the first line after it."""
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            return _load_yaml("\n".join(lines[1:end]), f"{source_name} front matter"), end + 1
    raise QmdSyntaxError(f"{source_name}: front matter starting on line 1 is never closed with '---'")


def _code_cell(lines: list[str], i: int, match, number: int, source_name: str) -> CodeCell:
    """The code cell whose opening fence (``match``) is line ``i`` (0-based)."""
    fence, lang = match["fence"], match["lang"]
    close = re.compile(rf"^`{{{len(fence)},}}\s*$")
    for j in range(i + 1, len(lines)):
        if close.match(lines[j]):
            break
    else:
        raise QmdSyntaxError(f"{source_name}: code cell opened on line {i + 1} is never closed with {fence}")
    if lang != "python":
        raise QmdSyntaxError(
            f"{source_name}: line {i + 1}: only {{python}} cells can be executed, got {{{lang}}}; "
            f"use a plain ```{lang} block for code that should only be shown"
        )
    body = lines[i + 1 : j]
    option_lines = []
    while body and _OPTION_LINE.match(body[0]):
        option_lines.append(_OPTION_LINE.match(body.pop(0))["text"])
    options = _load_yaml("\n".join(option_lines), f"{source_name} options of the cell on line {i + 1}")
    return CodeCell("\n".join(body).strip("\n"), options, i + 1, j + 1, number)


def merge_config(base: dict, override: dict) -> dict:
    """Deep-merge two Quarto configurations; ``override`` wins key by key.

    Parameters
    ----------
    base, override : dict

    Returns
    -------
    dict
        A new mapping; the inputs are not modified.
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_project_config(qmd_path: Path) -> dict:
    """Read ``_quarto.yml`` (or ``_quarto.yaml``) from the document's directory.

    Returns an empty mapping when there is none.
    """
    for name in ("_quarto.yml", "_quarto.yaml"):
        path = qmd_path.parent / name
        if path.is_file():
            try:
                text = path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as exc:
                raise QmdSyntaxError(
                    f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it with UTF-8 encoding"
                ) from None
            return _load_yaml(text, str(path))
    return {}


def _format_section(config: dict, fmt: str) -> dict:
    formats = config.get("format")
    if isinstance(formats, str):
        return {}
    if isinstance(formats, dict):
        section = formats.get(fmt)
        if isinstance(section, dict):
            return section
    return {}


def format_config(project: dict, front_matter: dict, fmt: str) -> dict:
    """Flatten the configuration that applies to one output format.

    Order of precedence (later wins): ``_quarto.yml`` top level,
    ``_quarto.yml`` ``format: <fmt>:``, front matter top level, front matter
    ``format: <fmt>:``. The ``format`` key itself is dropped.

    Parameters
    ----------
    project : dict
        Contents of ``_quarto.yml``.
    front_matter : dict
        The document's front matter.
    fmt : {"html", "revealjs"}

    Returns
    -------
    dict
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    layers = [
        {k: v for k, v in project.items() if k not in ("format", "project")},
        _format_section(project, fmt),
        {k: v for k, v in front_matter.items() if k != "format"},
        _format_section(front_matter, fmt),
    ]
    merged: dict = {}
    for layer in layers:
        merged = merge_config(merged, layer)
    return merged
