"""KeyBar: the screen's keys on the bottom line, drawn like Textual's Footer in one widget.

Textual's Footer makes a widget per key and restyles each as it mounts, a frame after
the screen's first: ~0.1 s of the inventory's start, whose whole budget is 0.5 s. This
draws the same line (a key bold in the accent colour, then what it does; a group's keys
together, then the group's name) as one text, redrawn when the screen's bindings change.
No mouse clicks: the app is for keyboards.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    """The active screen's shown bindings, laid out as Textual's Footer lays them out."""

    COMPONENT_CLASSES = {"keybar--key", "keybar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
        text-wrap: nowrap;
        .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()

    def render(self) -> Text:
        key = self.get_component_rich_style("keybar--key")
        text = self.get_component_rich_style("keybar--description")
        line = Text(no_wrap=True, end="")
        shown: dict[str, list[tuple[Binding, bool]]] = defaultdict(list)
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if binding.show:
                shown[binding.action].append((binding, enabled))
        firsts = [pairs[0] for pairs in shown.values()]
        for group, members in groupby(firsts, lambda pair: pair[0].group):
            pairs = list(members)
            if group is not None and len(pairs) > 1:
                line.append(" ")
                if group.compact and all(enabled for _binding, enabled in pairs):
                    line.append("".join(self._display(b) for b, _enabled in pairs), key)
                else:  # Footer: a compact group's keys touch; others are a space apart
                    for i, (binding, enabled) in enumerate(pairs):
                        line.append("" if group.compact or not i else " ")
                        line.append(self._display(binding), _dim(key, enabled))
                line.append(" ")
                line.append(group.description, text)
                line.append(" ")
                continue
            for binding, enabled in pairs:
                line.append(f" {self._display(binding)} ", _dim(key, enabled))
                line.append(f"{binding.description} ", _dim(text, enabled))
        return line

    def _display(self, binding: Binding) -> str:
        return self.app.get_key_display(binding)


def _dim(style: Style, enabled: bool) -> Style:
    return style if enabled else style + Style(dim=True)
