"""A tiny PNG line plot with Pillow (training curves), so the core needs no plotting library."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def plot_curves(path: str | Path, panels: list[tuple[str, dict[str, tuple[list[float], list[float]]]]],
                xlabel: str = "minutes", size: tuple[int, int] = (900, 320)) -> None:
    """Write side-by-side panels of named (x, y) series to ``path``.

    panels : [(title, {series name: (xs, ys)})]
    """
    w, h = size
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    pw = w // max(1, len(panels))
    for p, (title, series) in enumerate(panels):
        x0, y0, x1, y1 = p * pw + 55, 25, (p + 1) * pw - 15, h - 35
        draw.rectangle([x0, y0, x1, y1], outline=(120, 120, 120))
        draw.text((x0, 6), title, fill="black")
        draw.text((x1 - 60, h - 20), xlabel, fill=(80, 80, 80))
        pts = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys)]
        if not pts:
            continue
        xmin, xmax = min(p[0] for p in pts), max(p[0] for p in pts)
        ymin, ymax = min(p[1] for p in pts), max(p[1] for p in pts)
        xmax, ymax = (xmax if xmax > xmin else xmin + 1), (ymax if ymax > ymin else ymin + 1e-6)
        draw.text((x0 - 50, y0), f"{ymax:.3g}", fill=(80, 80, 80))
        draw.text((x0 - 50, y1 - 10), f"{ymin:.3g}", fill=(80, 80, 80))
        draw.text((x0, h - 20), f"{xmin:.3g}", fill=(80, 80, 80))
        draw.text((x1 - 110, h - 20), f"{xmax:.3g}", fill=(80, 80, 80))
        for k, (name, (xs, ys)) in enumerate(series.items()):
            color = COLORS[k % len(COLORS)]
            line = [(x0 + (x - xmin) / (xmax - xmin) * (x1 - x0), y1 - (y - ymin) / (ymax - ymin) * (y1 - y0))
                    for x, y in zip(xs, ys)]
            if len(line) > 1:
                draw.line(line, fill=color, width=2)
            elif line:
                draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2], fill=color)
            draw.text((x0 + 8, y0 + 6 + 14 * k), name, fill=color)
    img.save(path)
