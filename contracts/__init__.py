"""Schemathesis contract suites that check the mock, or a real deployment, against ``openapi/chat.yaml``."""
