"""What each view of the grid shows, named by one string (the Compare menu, ``--compare``, presets).

A view is a model (``"siren"``), a learned point model's prior before its refinement
(``"convonet-grid:prior"``), or a representation of the input (``"voxels"``, see
``representations``). ``"prior-refined"`` stands for the current model's prior beside its
refined result. A prior shown beside its own refined view is not run twice: the refined view's
session yields the prior's levels before refining, and ``StudioModel`` keeps them for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.registry import MODELS
from ..errors import InputError
from .representations import REPRESENTATIONS

PRIOR = ":prior"
PRIOR_REFINED = "prior-refined"
# models whose learned prior is refined to the input points after its levels (the Refine box)
REFINABLE = tuple(name for name, spec in MODELS.items() if spec.learned and spec.input_kind == "points")


@dataclass(frozen=True)
class ViewName:
    """A parsed view name: ``model`` makes it (a model or a representation); ``prior``: the learned
    prior alone, not refined."""

    name: str
    model: str
    prior: bool = False


def parse_view(name: str) -> ViewName:
    """``"convonet-grid:prior"`` -> ViewName(model="convonet-grid", prior=True); one-line InputError
    for a name that is neither a model, a refinable model's prior nor a representation."""
    model, prior = (name[: -len(PRIOR)], True) if name.endswith(PRIOR) else (name, False)
    if prior and model not in REFINABLE:
        raise InputError(f"{name!r}: only a learned point model has a prior to show apart: "
                         f"{', '.join(m + PRIOR for m in REFINABLE)}")
    if model not in MODELS and model not in REPRESENTATIONS:
        raise InputError(f"unknown model {name!r}: choose from {', '.join(MODELS)}, "
                         f"a model's prior (e.g. {REFINABLE[0]}{PRIOR}), or {', '.join(REPRESENTATIONS)}")
    return ViewName(name, model, prior)


def prior_refined(model: str) -> list[str]:
    """The two views of "prior vs refined" for ``model``; InputError unless it is refinable."""
    if model not in REFINABLE:
        raise InputError(f"{PRIOR_REFINED} needs a learned point model (--model {' / '.join(REFINABLE)}), "
                         f"not {model}")
    return [model + PRIOR, model]


def expand_views(names: list[str], model: str) -> list[str]:
    """Check ``names`` and replace ``"prior-refined"`` by ``model``'s prior and refined views."""
    views: list[str] = []
    for name in names:
        views += prior_refined(model) if name == PRIOR_REFINED else [parse_view(name).name]
    return views


def refined_partner(names: list[str], index: int) -> int | None:
    """For the prior view ``names[index]``, the view of the same model (refined) whose run also yields
    the prior's meshes; None if there is none (the prior then runs alone, with refinement off)."""
    view = parse_view(names[index])
    if not view.prior:
        return None
    return next((i for i, n in enumerate(names) if n == view.model), None)


def view_title(name: str, names: list[str] | None = None) -> str:
    """The title over a view; beside its own prior, a model's view says it is the refined one."""
    view = parse_view(name)
    if view.model in REPRESENTATIONS:
        return REPRESENTATIONS[view.model].title
    title = MODELS[view.model].title
    if view.prior:
        return f"{title}: learned prior (not refined)"
    if names and view.model + PRIOR in names:
        return f"{title}: prior refined to the points"
    return title


def view_label(name: str, names: list[str] | None = None) -> str:
    """A short name for the view in narrow places (the Compare tab's rows, the progress rows)."""
    view = parse_view(name)
    if view.prior:
        return f"{view.model} prior"
    if names and view.model + PRIOR in names:
        return f"{view.model} refined"
    return view.model
