"""Draw the small item pictures in data/images/ from samplelist.json.

Each item gets a 48x48 PNG: a produce-like shape in the item's colour with its
initial on top. Output is deterministic (no timestamps or metadata), so
rerunning the script leaves git clean. Run: python data/make_pictures.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
SIZE = 48

# name -> (shape, fill colour); shapes are drawn by the functions below.
LOOKS: dict[str, tuple[str, str]] = {
    "Apples": ("round", "#c62828"),
    "Arugula": ("leaf", "#558b2f"),
    "Asparagus": ("spears", "#7cb342"),
    "Beets": ("root", "#880e4f"),
    "Blueberries": ("cluster", "#3949ab"),
    "Broccoli": ("tree", "#2e7d32"),
    "Brussels Sprouts": ("cluster", "#9ccc65"),
    "Cabbage": ("round", "#aed581"),
    "Cantaloupes": ("round", "#ffb74d"),
    "Carrots": ("root", "#ef6c00"),
    "Cauliflower": ("tree", "#f5f5dc"),
    "Celery": ("spears", "#c5e1a5"),
    "Chard": ("leaf", "#d81b60"),
    "Cherries": ("cluster", "#b71c1c"),
    "Corn": ("long", "#fdd835"),
    "Cucumbers": ("long", "#388e3c"),
    "Eggplant": ("long", "#4a148c"),
    "Garlic": ("bulb", "#f3e5f5"),
    "Grapes": ("cluster", "#6a1b9a"),
    "Kale": ("leaf", "#1b5e20"),
    "Leeks": ("spears", "#dce775"),
    "Lettuce": ("leaf", "#8bc34a"),
    "Mushrooms": ("cap", "#8d6e63"),
    "Onions": ("bulb", "#ce93d8"),
    "Peaches": ("round", "#ffab91"),
    "Pears": ("bulb", "#cddc39"),
    "Peas": ("cluster", "#66bb6a"),
    "Peppers": ("round", "#e53935"),
    "Plums": ("round", "#5e35b1"),
    "Potatoes": ("round", "#a1887f"),
    "Pumpkins": ("round", "#f57c00"),
    "Radishes": ("root", "#e91e63"),
    "Raspberries": ("cluster", "#d81b60"),
    "Rhubarb": ("spears", "#c2185b"),
    "Salad Greens": ("leaf", "#9ccc65"),
    "Spinach": ("leaf", "#33691e"),
    "Squash": ("long", "#ffca28"),
    "Strawberries": ("root", "#e53935"),
    "Tomatoes": ("round", "#f44336"),
    "Turnips": ("bulb", "#e1bee7"),
    "Watermelon": ("round", "#43a047"),
    "Zucchini": ("long", "#2e7d32"),
}
DEFAULT_LOOK = ("round", "#90a4ae")


def slug(name: str) -> str:
    """The picture's file stem for an item name: "Brussels Sprouts" -> "brussels-sprouts"."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "item"


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, fill: str) -> None:
    outline = "#263238"
    if shape == "round":
        draw.ellipse((6, 8, 42, 44), fill=fill, outline=outline)
        draw.line((24, 8, 27, 2), fill="#5d4037", width=2)
    elif shape == "long":
        draw.rounded_rectangle((4, 16, 44, 34), radius=9, fill=fill, outline=outline)
    elif shape == "leaf":
        draw.ellipse((8, 4, 40, 44), fill=fill, outline=outline)
        draw.line((24, 6, 24, 46), fill=outline, width=1)
    elif shape == "cluster":
        for x, y in ((16, 14), (30, 14), (10, 26), (23, 26), (36, 26), (17, 38), (30, 38)):
            draw.ellipse((x - 7, y - 7, x + 7, y + 7), fill=fill, outline=outline)
    elif shape == "root":
        draw.polygon(((8, 12), (40, 12), (24, 46)), fill=fill, outline=outline)
        draw.line((18, 12, 14, 2), fill="#43a047", width=3)
        draw.line((30, 12, 34, 2), fill="#43a047", width=3)
    elif shape == "tree":
        draw.rectangle((20, 28, 28, 46), fill="#7cb342", outline=outline)
        draw.ellipse((6, 4, 42, 34), fill=fill, outline=outline)
    elif shape == "spears":
        for x in (12, 20, 28, 36):
            draw.rounded_rectangle((x - 3, 4, x + 3, 46), radius=3, fill=fill, outline=outline)
    elif shape == "bulb":
        draw.ellipse((8, 14, 40, 46), fill=fill, outline=outline)
        draw.polygon(((18, 18), (30, 18), (24, 2)), fill=fill, outline=outline)
    elif shape == "cap":
        draw.rectangle((19, 24, 29, 44), fill="#efebe9", outline=outline)
        draw.pieslice((4, 6, 44, 42), 180, 360, fill=fill, outline=outline)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def picture(name: str) -> Image.Image:
    shape, fill = LOOKS.get(name, DEFAULT_LOOK)
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    _draw_shape(draw, shape, fill)
    font = ImageFont.load_default(size=18)
    draw.text((SIZE / 2, SIZE / 2 + 2), name[:1].upper(), fill="white", font=font,
              anchor="mm", stroke_width=2, stroke_fill="#263238")
    # A small palette keeps each file to a few hundred bytes.
    return image.quantize(colors=16, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


def main() -> None:
    sample = json.loads((HERE / "samplelist.json").read_text(encoding="utf-8"))
    out = HERE / "images"
    out.mkdir(exist_ok=True)
    for item in sample["items"]:
        path = out / f"{slug(item['key'])}.png"
        picture(item["key"]).save(path, format="PNG", optimize=True)
        print(f"{path.relative_to(HERE)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
