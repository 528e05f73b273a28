"""The neighbourhood directory: communities, households, residents, ten-household groups."""
