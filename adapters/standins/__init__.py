"""Development and test stand-ins for the outside systems Liaison talks to.

- `gp_simulator`: an in-memory FHIR R4 GP practice endpoint with scripted outcomes;
- `notify_sink`: a local server speaking GOV.UK Notify's v2 API;
- `mail_sink`: an SMTP server that keeps what it receives, with a page to read it;
- `pds`, `ods`: the PDS FHIR `Patient` read and the ODS ORD organisation endpoint, canned;
- `mesh_practice`: simulated GP practices answering Send Document messages on MESH.

Production code never imports this package (the `stand-ins` contract in `.importlinter`
forbids it to `gateway`, `workers` and `fhir_profiles`); only the CLI's development commands
load a stand-in, lazily, inside the command that starts it.
"""
