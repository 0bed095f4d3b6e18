"""The mocked Recoup API: one module per resource (chat streams and runs, sessions, session chats,
chats, sandbox).

Each handler gets a validated, authenticated `mockserver.pipeline.Call` (the spec has checked the
body and parameters, and the fault scenario a request asked for has already answered, unless the
handler meets it itself), looks things up (404 unknown, 403 another account's), asks the world's
state for the change, and renders the answer. The changes of state live in `mockserver.state.store`,
`mockserver.state.rooms` and `mockserver.state.lifecycle`.
"""
