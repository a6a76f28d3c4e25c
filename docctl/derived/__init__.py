"""Everything rebuildable from git: the catalog, the change index, the audit trail, the search
indexes and the jobs that rebuild them. Deleting any of it loses nothing (``docctl reindex``).

Imports stores and core."""
