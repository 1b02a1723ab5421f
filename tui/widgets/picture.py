"""An item's picture drawn with half-block cells, so it shows on any terminal.

Each cell is "▀" with the upper pixel as foreground and the lower as
background; on a 16-colour console (TERM=linux) Rich maps them to the nearest
colours. No terminal queries, so it renders the same in tests as on a Pi.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.app import RenderResult as TextualRenderResult
from textual.reactive import reactive
from textual.widget import Widget

if TYPE_CHECKING:
    from PIL.Image import Image


class HalfBlocks:
    """A Rich renderable: a PIL image fitted into width x height cells, aspect kept."""

    def __init__(self, image: Image, width: int, height: int) -> None:
        self.image = image.convert("RGB")
        self.width = max(1, width)
        self.height = max(1, height)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from PIL import Image

        # A cell is about twice as tall as wide and holds two pixel rows: pixels come out square.
        scale = min(self.width / self.image.width, self.height * 2 / self.image.height)
        size = (max(1, round(self.image.width * scale)), max(1, round(self.image.height * scale)))
        img = self.image.resize(size, Image.Resampling.LANCZOS)
        if img.height % 2:
            padded = Image.new("RGB", (img.width, img.height + 1), img.getpixel((0, 0)))  # type: ignore[arg-type]
            padded.paste(img, (0, 0))
            img = padded
        pixels = img.load()
        assert pixels is not None
        for y in range(0, img.height, 2):
            for x in range(img.width):
                top, bottom = pixels[x, y], pixels[x, y + 1]
                style = Style(color=f"rgb{tuple(top)}", bgcolor=f"rgb{tuple(bottom)}")  # type: ignore[arg-type]
                yield Segment("▀", style)
            yield Segment.line()


class Picture(Widget):
    """Shows picture bytes (PNG/JPEG) in its content area, or a short note."""

    DEFAULT_CSS = """
    Picture { height: 10; width: 1fr; content-align: center middle; color: $text-muted; }
    """

    data: reactive[bytes | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._image: Image | None = None
        self._note = "no picture"

    def watch_data(self, data: bytes | None) -> None:
        self._image = None
        self._note = "no picture"
        if data:
            # PIL loads with the first picture, after the list has painted.
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    self._image = image.copy()
            except (UnidentifiedImageError, OSError):
                self._note = "picture unreadable"

    def render(self) -> TextualRenderResult:
        if self._image is None:
            return self._note
        return HalfBlocks(self._image, self.content_size.width, self.content_size.height)
