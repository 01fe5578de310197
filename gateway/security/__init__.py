"""Security: client registry, client assertions, audit trail, log redaction, signatures."""
