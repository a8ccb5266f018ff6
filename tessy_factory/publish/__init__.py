"""Publishing: turn curated rows into a tagged dataset version, on a local git hub or the Hub.

A version is one full snapshot (Parquet data, dataset card, quality report) written in one
commit and tagged with its name. `version` names versions and lays out their files, `card`
renders the dataset card, `local_hub` and `hub` are the two backends.
"""
