"""Signing in by phone: codes by SMS, the sessions they open, tickets for the stream, and
revocation that reaches every process."""
