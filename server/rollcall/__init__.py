"""The roll call (平安报): after an earthquake, a fire or a flood, staff ask every household of a
building, a grid or the community "are you OK?", and the board tallies the answers."""
