"""Charts of response metrics (matplotlib, drawn off-screen to PNG or SVG)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from tocsin.core import metrics
from tocsin.core.severity import SeverityScale
from tocsin.errors import InvalidInput

FORMATS = (".png", ".svg")


def mtta_mttr_by_month(
    incidents: Iterable[metrics.IncidentTimes],
    scale: SeverityScale,
    *,
    now: datetime,
    path: Path,
) -> None:
    """Draw MTTA and MTTR (minutes) per month, one line per severity, into `path`."""
    if path.suffix.lower() not in FORMATS:
        raise InvalidInput(f"the chart file must end in .png or .svg, not {path.name!r}")
    import matplotlib

    matplotlib.use("Agg")  # no display: draw straight into the file
    from matplotlib import pyplot

    found = list(incidents)
    months = sorted(metrics.by_month(found, scale, now=now))
    figure, axes = pyplot.subplots(1, 2, figsize=(11, 4), sharex=True)
    try:
        for level in scale.levels:
            of_level = [i for i in found if i.severity == level.name]
            if not of_level:
                continue
            monthly = metrics.by_month(of_level, scale, now=now)
            for axis, attribute in zip(axes, ("mtta", "mttr"), strict=True):
                values = [
                    getattr(monthly.get(m), attribute, None) if m in monthly else None
                    for m in months
                ]
                axis.plot(
                    months,
                    [v.total_seconds() / 60 if v else float("nan") for v in values],
                    marker="o",
                    label=level.name,
                )
        for axis, title in zip(axes, ("MTTA (minutes)", "MTTR (minutes)"), strict=True):
            axis.set_title(title)
            axis.set_xlabel("month")
            axis.grid(alpha=0.3)
        axes[1].legend(title="severity")
        figure.suptitle("Tocsin response metrics")
        figure.tight_layout()
        figure.savefig(path)
    finally:
        pyplot.close(figure)
