"""The TenWatch service: settings, app, routes, the alert lifecycle and the CLI."""
