"""What persists: the git store (reads, compare-and-swap writes, refs), the database layer
(SQLite or PostgreSQL) and the records kept there — people, sessions, read confirmations, the
outbox — plus locks and replication through a git remote.

Imports only core. Nothing here decides what a step of change control means: that is workflow/."""
