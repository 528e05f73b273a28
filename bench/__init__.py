"""Delivery-latency benchmark: `python -m bench` presses help and times every socket's arrival."""
