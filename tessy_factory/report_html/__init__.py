"""The HTML audit report of a build: one self-contained file, charts as inline SVG.

`data` reads what the report shows from the factory's database; `charts` draws it with
altair, rendered to SVG by vl-convert (no JavaScript, no network); `render` fills the page
template (`templates/`), escaping every value read from the data.
"""
