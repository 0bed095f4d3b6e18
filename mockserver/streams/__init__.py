"""The stream engine: scenarios, the UI message stream rules and protocol, SSE framing."""
