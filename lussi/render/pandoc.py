"""The built-in engine's last step: metadata for the title block, and pandoc writing one format.

Pandoc (from ``pypandoc_binary``, else on PATH) reads the assembled markdown
with the Lua filter ``filters/quarto.lua`` and the vendored CSS and reveal.js
under ``assets/``, embeds every resource (``--embed-resources``) and writes a
temporary file that is moved into place only when it succeeded.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import RenderError
from .markdown import one_line

__all__ = ["ASSETS", "FILTER", "REVEALJS", "metadata", "pandoc_args", "run_pandoc"]

_HERE = Path(__file__).resolve().parent
FILTER = _HERE / "filters" / "quarto.lua"
ASSETS = _HERE / "assets"
REVEALJS = ASSETS / "revealjs"

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _format_date(value, qmd: Path, style) -> str:
    if isinstance(value, _dt.datetime):
        day = value.date()
    elif isinstance(value, _dt.date):
        day = value
    elif str(value).strip() == "today" or str(value).strip() == "now":
        day = _dt.date.today()
    elif str(value).strip() == "last-modified":
        day = _dt.date.fromtimestamp(qmd.stat().st_mtime)
    else:
        try:
            day = _dt.date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            return str(value)  # free text such as "Spring 2025" is shown as written
    style = str(style or "long")
    month = _MONTHS[day.month - 1]
    styles = {
        "full": f"{day.strftime('%A')}, {month} {day.day}, {day.year}",
        "long": f"{month} {day.day}, {day.year}",
        "medium": f"{month[:3]} {day.day}, {day.year}",
        "short": f"{day.month}/{day.day}/{day.year % 100:02d}",
        "iso": day.isoformat(),
    }
    if style in styles:
        return styles[style]
    # A dayjs-style pattern such as "YYYY-MM-DD" or "D MMMM YYYY".
    tokens = {
        "YYYY": str(day.year),
        "YY": f"{day.year % 100:02d}",
        "MMMM": month,
        "MMM": month[:3],
        "MM": f"{day.month:02d}",
        "M": str(day.month),
        "DD": f"{day.day:02d}",
        "D": str(day.day),
        "dddd": day.strftime("%A"),
        "ddd": day.strftime("%a"),
    }
    return re.sub(r"YYYY|YY|MMMM|MMM|MM|M|DD|D|dddd|ddd", lambda m: tokens[m.group(0)], style)


def _authors(value) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        if isinstance(item, dict):
            name = item.get("name")
            if isinstance(name, dict):
                name = name.get("literal") or " ".join(str(name.get(k, "")) for k in ("given", "family")).strip()
            if name:
                names.append(str(name))
        elif item:
            names.append(str(item))
    return names


def metadata(config: dict, qmd: Path) -> dict:
    """Pandoc's metadata for one format: title block fields, authors as names, the date formatted."""
    meta = {}
    for key in ("title", "subtitle", "lang", "toc-title", "abstract", "description", "number-sections"):
        if key in config:
            meta[key] = config[key]
    if "author" in config:
        meta["author"] = _authors(config["author"])
    if "date" in config:
        meta["date"] = _format_date(config["date"], qmd, config.get("date-format"))
    if "pagetitle" not in config:
        meta["pagetitle"] = one_line(config["title"]) if "title" in config else qmd.stem
    return meta


def _pandoc_path() -> str:
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError) as exc:
        found = shutil.which("pandoc")
        if found:
            return found
        raise RenderError(f"pandoc is needed to render the report: install pypandoc_binary ({exc})") from None


def _revealjs_args(config: dict) -> list[str]:
    args = [
        "--to",
        "revealjs",
        "--css",
        str(ASSETS / "slides.css"),
        "-V",
        f"revealjs-url={REVEALJS.as_posix()}",
        # Only the white theme is vendored; any `theme:` maps onto it.
        "-V",
        "theme=white",
        f"--slide-level={int(config.get('slide-level', 2))}",
    ]
    if config.get("incremental"):
        args.append("--incremental")
    slide_number = config.get("slide-number")
    if slide_number:
        value = "true" if slide_number is True else f"'{slide_number}'"
        args += ["-V", f"slideNumber={value}"]
    for key in ("width", "height", "transition", "center", "controls", "progress"):
        if key in config:
            value = config[key]
            args += ["-V", f"{key}={str(value).lower() if isinstance(value, bool) else value}"]
    return args


def pandoc_args(fmt: str, config: dict) -> list[str]:
    """Pandoc's options for ``fmt`` (``"html"`` or ``"revealjs"``) under the merged configuration."""
    args = ["--from", "markdown", "--standalone", "--embed-resources", "--lua-filter", str(FILTER), "--mathml"]
    if config.get("toc"):
        args.append("--toc")
        if "toc-depth" in config:
            args.append(f"--toc-depth={int(config['toc-depth'])}")
    if config.get("number-sections"):
        args.append("--number-sections")
    if fmt == "html":
        return args + ["--to", "html5", "--css", str(ASSETS / "lussi.css")]
    return args + _revealjs_args(config)


def run_pandoc(markdown: Path, meta: Path, fmt: str, config: dict, target: Path, qmd: Path, workdir: Path, *,
               deferred=None) -> str:
    """Write ``target`` from ``markdown`` and the metadata file ``meta``; returns pandoc's stderr.

    Images are looked up beside the ``.qmd`` and in ``workdir``. ``target``
    appears only once pandoc succeeded and embedded every resource, and the
    ``deferred`` script bodies (:class:`~.deferred.DeferredScripts`) are back in place.
    """
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp = Path(temp_name)
    cmd = [
        _pandoc_path(),
        str(markdown),
        "--metadata-file",
        str(meta),
        *pandoc_args(fmt, config),
        f"--resource-path={qmd.parent}{os.pathsep}{workdir}",
        "--output",
        str(temp),
    ]
    try:
        proc = subprocess.run(cmd, check=False, cwd=qmd.parent, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RenderError(
                f"pandoc failed to write {fmt} for {qmd.name} (exit code {proc.returncode}):\n"
                f"{proc.stderr.strip()[-2000:]}"
            )
        fetch_failures = [line for line in proc.stderr.splitlines() if "Could not fetch resource" in line]
        if fetch_failures:
            raise RenderError(
                f"pandoc could not embed resources in the {fmt} output of {qmd.name}: " + "; ".join(fetch_failures[:5])
            )
        if deferred is not None:
            deferred.restore(temp)
        # mkstemp creates 0600 files; give the report the permissions a normal file would get.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return proc.stderr
