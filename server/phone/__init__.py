"""The phone as a help button: inbound calls and texts, delivery on the board, TwiML."""
