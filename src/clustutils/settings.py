"""Settings as data: a chapter's budget is one frozen dataclass, each profile a list of stated changes.

A chapter defines a frozen dataclass whose defaults are the paper's values (the ``full`` profile)
and a :class:`Budget` that writes every other profile as changes from it, each with its reason::

    @dataclass(frozen=True)
    class Settings:
        epochs: int = 400          # the paper's

    BUDGET = Budget(Settings(), {
        "cpu": {"epochs": (8, "2 cores: 400 epochs take days")},
        "smoke": {"epochs": (1, "CI: under 2 minutes a notebook")},
    })
    settings = BUDGET.settings("cpu")        # Settings(epochs=8)
    BUDGET.deviations("cpu")                  # rows: field, paper, this profile, reason

The ``full`` profile is the paper's settings; ``gpu`` must be written out like the others.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["PROFILES", "Budget"]

#: Every profile a notebook can run in, cheapest first.
PROFILES = ("smoke", "cpu", "gpu", "full")


class Budget:
    """The paper's settings and, for each profile, the changes from them with their reasons."""

    def __init__(self, paper: Any, changes: dict[str, dict[str, tuple[Any, str]]]):
        if not dataclasses.is_dataclass(paper) or isinstance(paper, type):
            raise TypeError("paper must be a dataclass instance holding the paper's settings")
        fields = {f.name for f in dataclasses.fields(paper)}
        unknown_profiles = set(changes) - set(PROFILES) - {"full"}
        if unknown_profiles:
            raise ValueError(f"unknown profile(s) {sorted(unknown_profiles)}; profiles are {', '.join(PROFILES)}")
        missing = [p for p in PROFILES if p != "full" and p not in changes]
        if missing:
            raise ValueError(f"the budget must state every profile; missing: {', '.join(missing)}")
        for profile, table in changes.items():
            for name, change in table.items():
                if name not in fields:
                    raise ValueError(f"profile {profile!r} changes {name!r}, which is not a setting ({', '.join(sorted(fields))})")
                if not (isinstance(change, tuple) and len(change) == 2 and isinstance(change[1], str) and change[1].strip()):
                    raise ValueError(f"profile {profile!r}, setting {name!r}: write the change as (value, 'reason')")
        self.paper, self.changes = paper, {"full": {}, **changes}

    def _check(self, profile: str) -> dict:
        if profile not in self.changes:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        return self.changes[profile]

    def settings(self, profile: str):
        """The settings of ``profile``: the paper's with that profile's changes applied."""
        return dataclasses.replace(self.paper, **{k: v for k, (v, _) in self._check(profile).items()})

    def deviations(self, profile: str) -> list[dict]:
        """One row per setting that ``profile`` changes: ``field``, ``paper``, ``value``, ``reason``."""
        return [{"field": name, "paper": getattr(self.paper, name), "value": value, "reason": reason}
                for name, (value, reason) in self._check(profile).items()
                if value != getattr(self.paper, name)]

    def deviations_markdown(self, profile: str) -> str:
        """The deviations of ``profile`` as a Markdown table (a sentence when there are none)."""
        rows = self.deviations(profile)
        if not rows:
            return f"Profile `{profile}` runs the paper's settings: no deviations."

        def show(value):
            return "all" if value is None else str(value).replace("|", "\\|")

        lines = [f"**Deviations from the paper in profile `{profile}`**", "",
                 "| setting | paper | this run | reason |", "|---|---|---|---|"]
        lines += [f"| `{r['field']}` | {show(r['paper'])} | {show(r['value'])} | {r['reason']} |" for r in rows]
        return "\n".join(lines)
