"""The built-in engine's markdown: the ``.qmd``'s text with each executed cell's outputs in place.

Code is fenced with Quarto's classes (``.cell-code``, ``.cell-output-stdout``...),
images are written to files that pandoc embeds, ``fig-``/``tbl-`` labelled cells
with a caption become the divs ``filters/quarto.lua`` numbers, and inline
expressions are replaced by their values.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from .deferred import DeferredScripts
from .errors import RenderError, strip_ansi
from .notebook import INLINE_MARKER, Step
from .qmd import INLINE_EXPR, MarkdownChunk

__all__ = ["Figures", "assemble", "cell_markdown", "one_line"]


def _fenced(text: str, info: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def one_line(value) -> str:
    """``value`` as text on one line, runs of white space folded."""
    return " ".join(str(value).split())


class Figures:
    """Writes images from cell outputs to files that pandoc embeds.

    ``deferred``, when given, takes the large inline scripts of HTML outputs
    out of pandoc's way (:class:`~.deferred.DeferredScripts`).
    """

    def __init__(self, directory: Path, deferred: DeferredScripts | None = None):
        self.directory = directory
        self.deferred = deferred
        self.count = 0

    def save(self, data: str | bytes, suffix: str) -> Path:
        self.count += 1
        path = self.directory / f"figure-{self.count}{suffix}"
        if suffix == ".svg":
            path.write_text(_text(data), encoding="utf-8")
        else:
            path.write_bytes(base64.b64decode(_text(data)))
        return path


def _display_block(data: dict, asis: bool, figures: Figures, alt: str) -> str | None:
    scripts = figures.deferred
    if "text/markdown" in data:
        markdown = _text(data["text/markdown"]).strip("\n")
        return markdown if scripts is None else scripts.hollow_markdown(markdown)
    if "text/html" in data:
        html = _text(data["text/html"])
        return _fenced(html if scripts is None else scripts.hollow(html), "{=html}")
    if "image/svg+xml" in data:
        return f"![{alt}](<{figures.save(data['image/svg+xml'], '.svg').as_posix()}>)"
    for mime, suffix in (("image/png", ".png"), ("image/jpeg", ".jpg"), ("image/gif", ".gif")):
        if mime in data:
            return f"![{alt}](<{figures.save(data[mime], suffix).as_posix()}>)"
    if "text/plain" in data:
        text = strip_ansi(_text(data["text/plain"]))
        return text.strip("\n") if asis else _fenced(text, " {.cell-output .cell-output-display}")
    return None


def _stream_blocks(streams: dict, asis: bool) -> list[str]:
    blocks = []
    for name, text in streams.items():
        text = strip_ansi(text)
        if not text.strip():
            continue
        if name == "stdout" and asis:
            blocks.append(text.strip("\n"))
        else:
            blocks.append(_fenced(text, f" {{.cell-output .cell-output-{name}}}"))
    return blocks


def _output_blocks(outputs, options: dict, alt: str, figures: Figures, floating: list | None) -> list[str]:
    """The blocks of a cell's outputs, in order; display outputs go to ``floating`` instead when it is a list.

    Consecutive stream outputs are joined per stream (stdout, stderr) as Quarto does.
    """
    asis = options["output"] == "asis"
    blocks: list[str] = []
    streams: dict[str, str] = {}
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            name = output.get("name", "stdout")
            if name != "stderr" or options["warning"]:
                streams[name] = streams.get(name, "") + _text(output.get("text", ""))
            continue
        blocks += _stream_blocks(streams, asis)
        streams = {}
        if kind == "error":
            traceback = strip_ansi("\n".join(output.get("traceback", [])))
            blocks.append(_fenced(traceback, " {.cell-output .cell-output-error}"))
        elif kind in ("display_data", "execute_result"):
            block = _display_block(output.get("data", {}), asis, figures, alt)
            if block is not None:
                (blocks if floating is None else floating).append(block)
    return blocks + _stream_blocks(streams, asis)


def cell_markdown(step: Step, cell, figures: Figures) -> str:
    """The markdown of one code cell: its source (``echo``) and its outputs, as its options say."""
    chunk = step.chunk
    options = step.options
    if not options["include"]:
        return ""
    blocks = [_fenced(chunk.source, " {.python .cell-code}")] if options["echo"] else []
    outputs = cell.get("outputs", []) if cell is not None and options["output"] else []
    label = chunk.label or ""
    float_kind = label.split("-", 1)[0] if label.startswith(("fig-", "tbl-")) else None
    caption = options.get(f"{float_kind}-cap") if float_kind else None
    if float_kind == "fig" or options.get("fig-cap") is None:
        alt = one_line(options.get("fig-alt", ""))
    else:
        # An unlabelled captioned image: pandoc makes a lone image with alt text a captioned figure.
        alt = one_line(options["fig-cap"])
    floating: list[str] = []  # display outputs that go inside the figure/table float
    blocks += _output_blocks(outputs, options, alt, figures, floating if caption is not None else None)
    if caption is not None and floating:
        inner = "\n\n".join(floating)
        blocks.append(f"::: {{#{label}}}\n\n{inner}\n\n{one_line(caption)}\n\n:::")
    elif label and not float_kind and options["output"] != "asis" and blocks:
        # A labelled cell is an anchor, as in Quarto; as-is output stays unwrapped so its headings make slides.
        return f"::: {{#{label} .cell}}\n\n" + "\n\n".join(blocks) + "\n\n:::"
    return "\n\n".join(blocks)


def _inline_values(cell) -> list[dict]:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            for line in _text(output.get("text", "")).splitlines():
                if line.startswith(INLINE_MARKER):
                    return json.loads(line[len(INLINE_MARKER) :])
    return []


def _substitute_inline(chunk: MarkdownChunk, values: list[dict], qmd: Path) -> str:
    matches = list(INLINE_EXPR.finditer(chunk.text))
    if len(values) != len(matches):
        last_line = chunk.first_line + chunk.text.count("\n")
        raise RenderError(
            f"inline code in lines {chunk.first_line}-{last_line} of {qmd.name} produced no result; "
            "did an expression exit or restart the kernel?"
        )
    pieces, last = [], 0
    for match, value in zip(matches, values):
        if "error" in value:
            line = chunk.first_line + chunk.text.count("\n", 0, match.start())
            raise RenderError(
                f"inline code `{{python}} {match['expr']}` on line {line} of {qmd.name} failed: {value['error']}"
            )
        pieces += [chunk.text[last : match.start()], value["value"]]
        last = match.end()
    pieces.append(chunk.text[last:])
    return "".join(pieces)


def assemble(document, nb, steps: list[Step], qmd: Path, figures: Figures) -> str:
    """The whole document as markdown for pandoc, from the executed notebook."""
    code_steps = {id(s.chunk): s for s in steps if s.kind == "code"}
    inline_steps = {id(s.chunk): s for s in steps if s.kind == "inline"}
    parts: list[str] = []
    for chunk in document.chunks:
        if isinstance(chunk, MarkdownChunk):
            step = inline_steps.get(id(chunk))
            if step is None:
                parts.append(chunk.text)
            else:
                parts.append(_substitute_inline(chunk, _inline_values(nb.cells[step.cell_index]), qmd))
        else:
            step = code_steps[id(chunk)]
            cell = nb.cells[step.cell_index] if step.cell_index >= 0 else None
            parts.append(cell_markdown(step, cell, figures))
    return "\n\n".join(part for part in parts if part.strip()) + "\n"
