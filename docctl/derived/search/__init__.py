"""Full-text search: the only package in docctl that imports Whoosh."""

from .index import Hit, IndexEntry, SearchIndex, SearchResults

__all__ = ["Hit", "IndexEntry", "SearchIndex", "SearchResults"]
