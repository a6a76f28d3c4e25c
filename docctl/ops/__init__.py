"""Running docctl: the instance folder that wires the parts together, settings, serving,
reindexing, copying a database, the demo.

Imports every layer below the web."""
