"""The domain, pure: documents, changes, commits, records, policy, signing rules, visibility,
rendering, redline, errors, clock — no I/O beyond what is handed in, no Flask, no git process.

Imports only the standard library, third-party libraries and itself; everything else imports it."""
