"""GP Connect Send Document: the ITK3 message, its PDF letter and its responses.

The public API, for the MESH route and the simulated practice:
`build_send_document`, `mesh_address`, `mesh_subject` (message), `render_letter` (letter),
`read_itk_response`, `build_itk_response` (responses), and the types in `contract`.
"""
