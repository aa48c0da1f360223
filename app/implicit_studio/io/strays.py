"""Stray points far from the rest of a cloud: a scanner's reflections, a passer-by, a point at the origin.

A cloud is fitted to the models' unit box by its bounding box, so a handful of points ten object
sizes away would shrink the object into a corner of the box, a few cells wide. Such points are
left out before the fit, with a notice; nothing else about the cloud changes.
"""

from __future__ import annotations

import numpy as np

MIN_POINTS = 100       # below this, a far point cannot be told from a sparse part
QUANTILE = 0.98        # the distance from the median that holds this share of the points...
FACTOR = 3.0           # ...times this is how far a point may lie before it counts as stray


def stray_points(points: np.ndarray) -> np.ndarray:
    """(N,) bool, True for the points farther from the cloud's coordinate-wise median than
    ``FACTOR`` times the distance within which ``QUANTILE`` of the points lie.

    At most 1 - QUANTILE of the points can be stray; a long or spread-out shape keeps its tips
    (they lie within FACTOR times that distance). No point is stray in clouds under
    ``MIN_POINTS``, or when leaving the strays out would leave the rest without any extent.
    points : (N, 3) finite coordinates.
    """
    pts = np.asarray(points, dtype=np.float64)
    none = np.zeros(len(pts), bool)
    if len(pts) < MIN_POINTS:
        return none
    with np.errstate(over="ignore", invalid="ignore"):     # coordinates near float64's limit: no stray is found
        distance = np.linalg.norm(pts - np.median(pts, axis=0), axis=1)
        reach = float(np.quantile(distance, QUANTILE))
        stray = distance > FACTOR * reach
        if not stray.any() or not np.isfinite(reach) or np.ptp(pts[~stray], axis=0).max() == 0:
            return none
    return stray


def stray_notice(stray: np.ndarray) -> str:
    """The input panel's line for the (N,) mask ``stray``."""
    count = int(np.count_nonzero(stray))
    return (f"left out {count:,} stray point{'s' if count != 1 else ''} far from the rest "
            f"(over {FACTOR:g}x the distance from the middle that holds {QUANTILE:.0%} of the points)")
