"""Curation: decide which generations are published, gate them on quality, count the funnel.

`dedup` writes one keep/drop decision per generation, `rows` reads the kept samples as
published rows, `quality` validates those rows with great-expectations, and `funnel` counts
what each stage let through.
"""
