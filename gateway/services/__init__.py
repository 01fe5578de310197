"""Use cases as the API, the console and the CLI call them: each takes a unit of work, owns
its commit, returns plain values and refuses with gateway.domain.errors."""
