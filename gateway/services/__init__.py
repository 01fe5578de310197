"""Use cases as the API, the console, the CLI and the workers call them: each takes a unit of
work as the protocol gateway.store.ports.UnitOfWorkPort (never the SQLAlchemy class, checked by
import-linter), returns plain values and refuses with gateway.domain.errors.

A use case that one edge calls in a transaction of its own commits, and says so; the others
leave the commit to the caller, because a worker joins several of them in one transaction."""
