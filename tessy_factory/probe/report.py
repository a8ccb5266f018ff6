"""The probe's section in a build report: put in, or replaced, in a report already written
(the probe runs after the build that published the version)."""

from __future__ import annotations

import re

HEADING = "## Downstream probe"
# The report's sections after which the probe's comes: before the quality gate's.
BEFORE = "## Quality gate"


def with_probe_section(report: str, section: str) -> str:
    """`report` with its probe section replaced by `section` (or `section` put in before
    the quality gate's, or at the end)."""
    if not section:
        return report
    section = section.rstrip("\n") + "\n\n"
    existing = re.search(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", report, re.M | re.S)
    if existing is not None:
        return report[: existing.start()] + section + report[existing.end() :]
    at = report.find(f"\n{BEFORE}")
    if at < 0:
        return report.rstrip("\n") + "\n\n" + section
    return report[: at + 1] + section + report[at + 1 :]
