"""Delivery: the event bus, the websocket hub, the SMS outbox and its senders."""
