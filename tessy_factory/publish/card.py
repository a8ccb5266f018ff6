"""The dataset card: README.md with Hub metadata, prose and the reproducibility manifest.

The YAML front matter is what the Hub and `datasets.load_dataset` read: the `configs` entry
points the default config's train split at the Parquet files of the version.
"""

from __future__ import annotations

import json

import yaml

from tessy_factory.publish.version import DATA_GLOB, check_version

TAGS = ["synthetic", "reasoning", "sft", "code", "tessy"]


def render_card(repo_id: str, version: str, license: str, manifest: dict, summary_md: str) -> str:
    """Render README.md for one version; `summary_md` is the caller's funnel/report markdown."""
    check_version(version)
    if not license.strip():
        raise ValueError(f"license {license!r}: must not be empty")
    return "\n".join(
        [
            f"---\n{yaml.safe_dump(_metadata(repo_id, license), sort_keys=False)}---",
            f"# {repo_id}",
            "",
            f"Version `{version}` of a supervised fine-tuning set for reasoning models, "
            "synthesised with the TESSY teacher-student method: the teacher writes the "
            "capability-bearing spans of each reasoning trace and the student writes the "
            "stylistic ones, so the data stays close to the student's own distribution.",
            "",
            "Each row holds one sample as `messages` (the user prompt, then the assistant turn "
            "`<think>\\n...\\n</think>\\n\\nanswer`) with its provenance: prompt, source and "
            "license, generation mode, models, teacher token share and test verdict.",
            "",
            "## Loading",
            "",
            "```python",
            "from datasets import load_dataset",
            "",
            f'rows = load_dataset("{repo_id}", split="train", revision="{version}")',
            "```",
            "",
            "From a local hub (a git repository on disk), load a working copy of the version: "
            f"`git clone --branch {version} HUB/{repo_id} DIR`, then "
            '`load_dataset("DIR", split="train")`.',
            "",
            "## Summary",
            "",
            summary_md.strip(),
            "",
            "## Reproducibility manifest",
            "",
            "```json",
            _manifest_json(manifest),
            "```",
            "",
        ]
    )


def _metadata(repo_id: str, license: str) -> dict:
    return {
        "license": license,
        "pretty_name": repo_id.split("/")[-1],
        "task_categories": ["text-generation"],
        "tags": TAGS,
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": DATA_GLOB}],
            }
        ],
    }


def _manifest_json(manifest: dict) -> str:
    try:
        return json.dumps(manifest, indent=2, sort_keys=True)
    except TypeError as exc:
        raise ValueError(f"manifest: not JSON-serialisable: {exc}") from exc
