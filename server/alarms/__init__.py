"""The alarm: the press, its life, escalation, who is told, its events, views and reports."""
