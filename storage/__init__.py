"""Storage shared by every package: the declarative base, engines, sessions, statements."""
