"""Where the shipped `data/` and `certs/` folders are.

In a wheel they are force-included as `engine/_shipped/data` and
`engine/_shipped/certs`; in a source checkout or editable install they are
the repository's top-level folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _shipped(name: str) -> Path:
    packaged = resources.files("engine").joinpath("_shipped", name)
    if packaged.is_dir():
        return Path(str(packaged))
    return _REPO_ROOT / name


def data_dir() -> Path:
    """The folder holding samplelist.json, userallowlist.json and pictures."""
    return _shipped("data")


def certs_dir() -> Path:
    """The folder holding the sample listener identity and test certs."""
    return _shipped("certs")
