"""Bringing existing documents in: Word/ODT/Markdown converted to docctl documents, and the
converted files recorded as changes through the workflow (issue 13).

Imports workflow, derived, stores and core."""
