"""A session's name, read from its browser's User-Agent: "Android · Chrome", "iPhone · Safari"."""

import re

_SYSTEMS = (
    ("Android", re.compile(r"Android")),
    ("iPhone", re.compile(r"iPhone")),
    ("iPad", re.compile(r"iPad")),
    ("HarmonyOS", re.compile(r"HarmonyOS|OpenHarmony")),
    ("Windows", re.compile(r"Windows")),
    ("Mac", re.compile(r"Macintosh|Mac OS X")),
    ("Linux", re.compile(r"Linux|X11")),
)
# Order matters: Edge and WeChat say "Chrome" too, Chrome says "Safari".
_BROWSERS = (
    ("WeChat", re.compile(r"MicroMessenger")),
    ("Edge", re.compile(r"Edg/")),
    ("Firefox", re.compile(r"Firefox/")),
    ("Chrome", re.compile(r"Chrome/|Chromium/|CriOS/")),
    ("Safari", re.compile(r"Safari/")),
)


def name(user_agent: str | None) -> str:
    """The device a User-Agent describes, in two words; "unknown device" when it says none."""
    if not user_agent:
        return "unknown device"
    system = next((n for n, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    browser = next((n for n, pattern in _BROWSERS if pattern.search(user_agent)), None)
    found = " · ".join(part for part in (system, browser) if part)
    return found or user_agent[:40]
