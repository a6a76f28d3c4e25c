"""Full-text search: the only package in docctl that imports Whoosh."""

import sys

from . import analysis
from .index import Hit, IndexEntry, SearchIndex, SearchResults

__all__ = ["Hit", "IndexEntry", "SearchIndex", "SearchResults"]

# Whoosh pickles an index's schema with its analyzers, so indexes written before this package
# moved (issue 28) name `docctl.search.analysis`. Both names lead here, so those indexes still
# open: without it every index of an upgraded instance read as broken and was rebuilt (minutes
# for the index of all revisions at 2,000 x 20).
sys.modules.setdefault("docctl.search", sys.modules[__name__])
sys.modules.setdefault("docctl.search.analysis", analysis)
