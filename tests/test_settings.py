"""clustutils.settings: a chapter's budget as the paper's settings plus stated changes per profile."""

import dataclasses
from dataclasses import dataclass, field

import pytest

from clustutils.papers import ch04_cm as cm
from clustutils import weights
from clustutils.settings import PROFILES, Budget


@dataclass(frozen=True)
class Toy:
    epochs: int = 400
    sizes: dict = field(default_factory=lambda: {"a": 10})
    restarts: int = 20


def _budget(**extra):
    changes = {"cpu": {"epochs": (8, "time"), "restarts": (20, "kept, stated")},
               "smoke": {"epochs": (1, "CI"), "sizes": ({"a": 2}, "CI")},
               "gpu": {"epochs": (100, "window")}}
    changes.update(extra)
    return Budget(Toy(), changes)


def test_each_profile_is_the_paper_with_its_changes():
    budget = _budget()
    assert budget.settings("full") == Toy()
    assert budget.settings("cpu") == Toy(epochs=8)
    assert budget.settings("smoke") == Toy(epochs=1, sizes={"a": 2})
    assert budget.settings("gpu").epochs == 100 and budget.settings("gpu").restarts == 20


def test_deviations_list_only_changed_values_with_paper_value_and_reason():
    rows = _budget().deviations("cpu")
    assert rows == [{"field": "epochs", "paper": 400, "value": 8, "reason": "time"}]  # restarts unchanged: not a deviation
    table = _budget().deviations_markdown("smoke")
    assert "| `sizes` | {'a': 10} | {'a': 2} | CI |" in table
    assert "no deviations" in _budget().deviations_markdown("full")


@pytest.mark.parametrize("changes, message", [
    ({"cpu": {"epoch": (8, "typo")}}, "not a setting"),
    ({"cpu": {"epochs": 8}}, "value, 'reason'"),
    ({"cpu": {"epochs": (8, "")}}, "value, 'reason'"),
    ({"turbo": {}}, "unknown profile"),
])
def test_bad_budgets_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        _budget(**changes)


def test_every_profile_must_be_stated_and_unknown_profiles_are_refused():
    with pytest.raises(ValueError, match="missing: gpu"):
        Budget(Toy(), {"cpu": {}, "smoke": {}})
    with pytest.raises(ValueError, match="smoke, cpu, gpu, full"):
        _budget().settings("turbo")
    assert PROFILES == ("smoke", "cpu", "gpu", "full")


def test_chapter_4_full_profile_is_the_authors_schedule():
    full = cm.BUDGET.settings("full")
    assert full.cm_batch == {"mnist": 111, "usps": 150, "fashion_mnist": 35} and full.cm_epochs == {"mnist": 150, "usps": 150}
    assert cm.DEEP_BUDGET.settings("full").joint_epochs == {"mnist": 1000, "usps": 1000}
    assert cm.BUDGET.settings("cpu").cm_batch == {"mnist": 1000, "usps": 1000}
    # the CM's budget and the deep budget share no setting but the data-set sizes: each notebook shows its own
    shared = {f.name for f in dataclasses.fields(cm.Settings)} & {f.name for f in dataclasses.fields(cm.DeepSettings)}
    assert shared == {"max_images"}
    assert cm.scaled_alpha(177.0, 111, 1000) == pytest.approx(1 + 176 * 1000 / 111)


@pytest.mark.parametrize("name", weights.budgets())
def test_every_chapter_states_every_profile_as_changes_from_the_paper(name):
    import dataclasses

    budget = weights.budgets()[name]
    paper = budget.settings("full")
    assert paper == type(paper)()  # full is the dataclass's defaults: the paper's values
    for profile in PROFILES:
        settings = budget.settings(profile)
        assert dataclasses.is_dataclass(settings) and dataclasses.fields(settings)
        table = budget.deviations_markdown(profile)
        assert ("no deviations" in table) == (not budget.deviations(profile))
        for row in budget.deviations(profile):
            assert row["reason"].strip() and f"`{row['field']}`" in table
