"""What a device says over the device link: a paired button's press raises its household's
alarm on the app's path (`Presses`, source `button`, the type the button was paired with:
merged into the open alarm like any repeated press), answered on the button's feedback topic;
every message records when the device was last heard, its battery and link; availability
(`<topic>/availability`: online / offline) is recorded too. A topic no device owns is noted
for the admin (`hardware_unknown`) and logged — never an alarm for anyone.

Messages understood, as Zigbee2MQTT and GSM/LoRa gateways publish them:
`{"action": "emergency" | "sos" | "single" | ..., "battery": 87, "linkquality": 120}`,
`{"smoke": true}` (a smoke sensor paired as a fire button), or a bare `SOS` / `press`.
"""

import json
import logging
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from groups import hardware
from notifier import devices
from notifier.devices.base import DeviceLink
from server import accounts
from server.alarms.batch import Press, Presses
from server.alarms.models import AlertType, Channel
from server.errors import Refusal
from server.runtime.work import Work
from server.settings import Settings

log = logging.getLogger(__name__)

PRESS_ACTIONS = frozenset(
    {"emergency", "sos", "panic", "alarm", "press", "single", "long", "hold", "on"}
)
"""The `action`s of a press: Tuya TS0215A_sos says `emergency`, Heiman's buttons `emergency`
or `single`/`long`; a GSM or LoRa gateway may say `sos` or `press`."""
AVAILABILITY = "/availability"


def parse(payload: bytes) -> dict[str, Any] | str:
    """A message's JSON object, or its text (stripped) when it is not one."""
    text = payload.decode("utf-8", "replace").strip()
    try:
        found = json.loads(text)
    except ValueError:
        return text
    return found if isinstance(found, dict) else text


def is_press(message: dict[str, Any] | str) -> bool:
    """Whether a button's message is a press (an SOS, a long press, smoke)."""
    if isinstance(message, str):
        return message.lower() in PRESS_ACTIONS
    action = message.get("action")
    if isinstance(action, str) and action.lower() in PRESS_ACTIONS:
        return True
    return message.get("smoke") is True or message.get("sos") is True


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class Buttons:
    """The device link's handler; the lifespan owns it."""

    def __init__(
        self,
        sessions: Callable[[], Work],
        *,
        presses: Presses,
        link: DeviceLink,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._presses = presses
        self._link = link
        self._clock = clock

    async def hear(self, topic: str, payload: bytes) -> None:
        """Record what the device said; raise its household's alarm if it was a press."""
        now = self._clock()
        message = parse(payload)
        available = None
        if topic.endswith(AVAILABILITY):
            topic = topic.removesuffix(AVAILABILITY)
            state = message.get("state") if isinstance(message, dict) else message
            available = state == "online"
        async with self._sessions() as session:
            device = await hardware.by_topic(session, topic=topic)
            if device is None:
                await hardware.heard_unknown(
                    session, topic=topic, payload=payload.decode("utf-8", "replace"), now=now
                )
                await session.commit()
                log.warning("device link: a message on %s, which no device owns", topic)
                return
            if topic == device.command_topic:  # our own command, heard back
                return
            if available is not None:
                device.available = available
            else:
                device.available = True
                if isinstance(message, dict):
                    battery = _number(message.get("battery"))
                    device.battery = device.battery if battery is None else battery
                    device.linkquality = _number(message.get("linkquality"))
            if available is not False:
                device.last_seen_at = now
            pressed = (
                available is None and device.kind == hardware.Kind.BUTTON and is_press(message)
            )
            household_id, alert_type = device.household_id, device.alert_type
            feedback = device.command_topic
            principal = (
                await accounts.for_household(session, household_id=household_id)
                if pressed and household_id is not None
                else None
            )
            await session.commit()
        if not pressed:
            return
        if principal is None:
            log.error("button %s pressed, but its household has no resident to raise for", topic)
            return
        await self._press(principal, alert_type=alert_type, now=now, feedback=feedback)

    async def _press(
        self,
        principal: accounts.Principal,
        *,
        alert_type: str,
        now: datetime,
        feedback: str | None,
    ) -> None:
        try:
            change = await self._presses.press(
                Press(
                    principal=principal,
                    alert_type=AlertType(alert_type),
                    now=now,
                    source=Channel.BUTTON,
                )
            )
        except Refusal as refusal:
            log.error("a button press for %s was not stored: %s", principal.address, refusal)
            return
        log.info("button of %s: alarm %s %s", principal.address, change.alert.id, change.outcome)
        if feedback is None:
            return
        answer = {"alert_id": change.alert.id, "outcome": str(change.outcome), "led": "on"}
        try:
            await self._link.publish(feedback, json.dumps(answer, separators=(",", ":")))
        except Exception as exc:  # the alarm stands; only the LED is not lit
            log.warning("button feedback on %s not sent: %s", feedback, exc)


def create_link(settings: Settings) -> DeviceLink:
    """The device link the settings name (in-process unless TENWATCH_MQTT_URL is set)."""
    topics = tuple(t.strip() for t in settings.mqtt_topics.split(",") if t.strip())
    return devices.create_link(
        settings.device_url,
        client_id=settings.mqtt_client_id or f"tenwatch-{socket.gethostname()}"[:64],
        topics=topics,
        min_backoff=settings.mqtt_min_backoff_seconds,
    )


def thresholds(settings: Settings) -> tuple[timedelta, int]:
    """When a button is quiet, and below what battery it is low (for
    `groups.hardware.reachability` and `state_of`)."""
    return timedelta(hours=settings.button_quiet_hours), settings.button_low_battery
