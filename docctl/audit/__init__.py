"""What auditors rely on: verification of the whole history, readership (who must read, who
confirmed), periodic reviews due, controlled copies.

Imports workflow, derived, stores and core."""
