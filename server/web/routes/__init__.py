"""HTTP and websocket routes: they parse, authorize and call services."""
