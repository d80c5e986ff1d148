"""``evoforge dashboard``: a live web view of run directories (read-only; see :mod:`.catalog`)."""

from evoforge.dashboard.catalog import Catalog

__all__ = ["Catalog"]
