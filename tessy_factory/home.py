"""The factory home: one directory that holds a factory's database, hub, models and reports."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "TESSY_HOME"
DEFAULT_HOME = ".tessy"


@dataclass(frozen=True)
class FactoryHome:
    """Paths inside a factory home; creating one makes its directories."""

    root: Path

    @classmethod
    def resolve(cls, explicit: str | Path | None = None, *, create: bool = True) -> FactoryHome:
        """Pick the home: an explicit path, else $TESSY_HOME, else ./.tessy.

        With `create=False` (commands that only read) a missing home is an error, so a
        mistyped path does not leave an empty factory behind.
        """
        chosen = explicit or os.environ.get(HOME_ENV) or DEFAULT_HOME
        home = cls(Path(chosen).expanduser().resolve())
        if not create:
            if not home.database.is_file():
                raise FileNotFoundError(f"no factory at {home.root} (no {home.database.name})")
            return home
        for path in (home.root, home.hub, home.models, home.reports, home.scratch):
            path.mkdir(parents=True, exist_ok=True)
        return home

    @property
    def database(self) -> Path:
        return self.root / "factory.duckdb"

    @property
    def hub(self) -> Path:
        return self.root / "hub"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"
