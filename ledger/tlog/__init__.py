"""The integrity code, domain-free: canonical encoding (canonical), the RFC 9162 tree and the hash
chain (merkle), C2SP signed notes (note), the log store inside eventsourcing's recorders (log,
log_postgres), and the verifiers (audit, the fast one; reference, the readable one; trust,
verdict). Each hash formula is written once, in merkle/rfc6962.py and merkle/chain.py.

Nothing here imports ledger.domain or the application: a log verifies without knowing what a GEC
is. Moving these modules changes no hashed byte (no event topic names them)."""
