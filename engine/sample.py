"""The sample inventory a new user's database starts with (the tutorial's samplelist.json).

`load_sample` is the `init` callback of `open_user_db`, which runs it once, when
the database is created. Its output is deterministic: every device creating a
database from the same shipped data writes the same first revision (same rev id).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError
from engine.inventory import LIST_DOC_ID, normalise
from engine.resources import data_dir

if TYPE_CHECKING:
    from engine.store import Database


def picture_slug(name: str) -> str:
    """The picture file stem for an item name ("Brussels Sprouts" -> "brussels-sprouts")."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "item"


def sample_body(folder: Path | None = None) -> dict[str, Any]:
    """samplelist.json as shipped, parsed; ConfigError if it is missing or malformed."""
    path = (folder or data_dir()) / "samplelist.json"
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"The sample list {path} cannot be read: {err}.") from err
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ConfigError(f"The sample list {path} is not a list document.")
    return body


def load_sample(db: Database, folder: Path | None = None) -> None:
    """Store each item's picture as a blob and save the list in merge-ready form."""
    folder = folder or data_dir()
    body = sample_body(folder)
    for item in body["items"]:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            continue
        picture = folder / "images" / f"{picture_slug(item['key'])}.png"
        if picture.is_file():   # an item without a picture is still an item
            item["image"] = db.blobs.put(picture.read_bytes(), "image/png")
    db.save(LIST_DOC_ID, normalise(body), rev=None)
