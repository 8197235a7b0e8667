"""Tests for lussi.render.resources: what a page would fetch from the network."""

from lussi.render import external_resources


def test_external_resources_finds_fetches_but_not_links():
    html = """<html><head>
    <link rel="stylesheet" href="https://cdn.example.com/a.css">
    <script src="//cdn.example.com/b.js"></script>
    <style>@import url("https://fonts.example.com/c.css"); body { background: url(data:image/png;base64,AA); }</style>
    </head><body>
    <a href="https://example.com/page">a link is fine</a>
    <img src="data:image/png;base64,AAAA"><img src="http://example.com/d.png">
    <div style="background-image: url('https://example.com/e.png')"></div>
    <script>var s = "https://in-a-string.example.com";</script>
    </body></html>"""
    assert external_resources(html) == [
        "https://cdn.example.com/a.css",
        "//cdn.example.com/b.js",
        "https://fonts.example.com/c.css",
        "http://example.com/d.png",
        "https://example.com/e.png",
    ]
    assert external_resources("<p>plain <a href='http://x.org'>x</a></p>") == []
