"""File names in configs, made absolute when a config is read, so that the run directory records
the files its run read wherever the run is later resumed, reported or trained from."""

from __future__ import annotations

import os
import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["AbsolutePath", "absolute_path"]

#: a source named by a scheme rather than a file (``sklearn:iris``, ``s3://...``, ``http://...``);
#: two letters at least, so a Windows drive letter is still a file name
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def absolute_path(value: str) -> str:
    """``value`` against the current folder, ``~`` expanded and ``..`` taken out; a scheme's source
    and "" as they are.

    >>> absolute_path("sklearn:iris")
    'sklearn:iris'
    >>> absolute_path("/data/t.csv")
    '/data/t.csv'
    >>> absolute_path("t.csv") == os.path.join(os.getcwd(), "t.csv")
    True
    """
    if not value or _SCHEME.match(value):
        return value
    return os.path.abspath(os.path.expanduser(value))


#: a config field naming a file or folder: stored absolute
AbsolutePath = Annotated[str, AfterValidator(absolute_path)]
