"""Large inline scripts are kept out of pandoc (lussi.render.deferred) and come back verbatim."""

from __future__ import annotations

import re

from lussi.render.deferred import DeferredScripts

# A body that a regex replacement string would mangle, and quotes and comments pandoc never sees.
BODY = '{"w": [0.5, 1e-3], "s": "it\'s \\\\1 \\\\g<0> <!-- x -->"}' + " " * 200


def _pandoc_like(html: str) -> str:
    """What pandoc does with a raw block it keeps: writes it inside its own page."""
    return f"<html><body>\n{html}\n</body></html>\n"


def test_large_script_bodies_are_swapped_for_placeholders_and_written_back(tmp_path):
    scripts = DeferredScripts(min_chars=100)
    html = f'<div>it\'s <img alt="a" src="data:image/png;base64,AAAA"><script type="application/json" class="d">{BODY}</script>' \
           f"<script>{BODY}</script><SCRIPT>small()</SCRIPT></div>"
    hollow = scripts.hollow(html)
    assert BODY not in hollow and len(scripts) == 2
    assert "<SCRIPT>small()</SCRIPT>" in hollow and "it's <img" in hollow  # the rest is left to pandoc
    out = tmp_path / "page.html"
    out.write_text(_pandoc_like(hollow), encoding="utf-8")
    scripts.restore(out)
    assert out.read_text(encoding="utf-8") == _pandoc_like(html)


def test_scripts_with_a_source_small_ones_and_other_markdown_stay_with_pandoc():
    scripts = DeferredScripts(min_chars=100)
    with_source = f'<script src="lib.js">{BODY}</script>'
    assert scripts.hollow(with_source) == with_source  # pandoc fetches lib.js and writes it in the body
    assert scripts.hollow("<script>tiny()</script>") == "<script>tiny()</script>"
    two_fences = f"```{{=html}}\n<script>{BODY}</script>\n```\n\ntext\n\n```{{=html}}\n<b>x</b>\n```"
    assert scripts.hollow_markdown(two_fences) == two_fences
    assert scripts.hollow_markdown(f"<script>{BODY}</script>") == f"<script>{BODY}</script>"  # not a raw fence
    assert len(scripts) == 0


def test_a_lone_raw_html_fence_is_hollowed_inside_its_fence(tmp_path):
    scripts = DeferredScripts(min_chars=100)
    markdown = f"````{{=html}}\n<p>```</p><script>{BODY}</script>\n````"
    hollow = scripts.hollow_markdown(markdown)
    assert re.fullmatch(r"````\{=html\}\n<p>```</p><script><!--lussi-deferred-[0-9a-f]+-0--></script>\n````", hollow)


def test_a_placeholder_dropped_by_a_format_is_no_error_and_each_render_has_its_own_token(tmp_path):
    first, second = DeferredScripts(min_chars=100), DeferredScripts(min_chars=100)
    hollow = first.hollow(f"<script>{BODY}</script>")
    assert second.hollow(f"<script>{BODY}</script>") != hollow
    out = tmp_path / "slides.html"
    out.write_text("<p>no pad on this format</p>\n" + second.hollow(f"<script>{BODY}</script>"), encoding="utf-8")
    first.restore(out)  # another render's placeholder is not this render's to fill
    assert BODY not in out.read_text(encoding="utf-8")
    second.restore(out)
    assert out.read_text(encoding="utf-8") == f"<p>no pad on this format</p>\n<script>{BODY}</script>"
