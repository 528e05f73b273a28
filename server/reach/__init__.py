"""Reachability and the plan: who can be reached through which channel (an app socket open
now, push, a text, a phone at all), the routine button test that checks each channel without
alarming anyone, and the community drawn as buildings → units → floors → rooms."""
