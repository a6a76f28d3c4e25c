"""E-mail: who is told what (notifications, in each person's language) and the delivery of the
outbox through SMTP.

Imports audit, workflow, derived, stores and core."""
