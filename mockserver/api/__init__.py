"""The mocked Recoup API: one module per resource (chat streams and runs, sessions, chats, sandbox)."""
