"""The device link chosen by URL: `memory://` (in-process, the embedded default) or
`mqtt://host:port` (a broker: Zigbee2MQTT buttons, GSM/LoRa gateways, sirens, loudspeakers)."""

from notifier.devices.base import DeviceLink, Handler, matches
from notifier.devices.memory import MemoryLink

__all__ = ["DeviceLink", "Handler", "MemoryLink", "create_link", "matches"]


def create_link(
    url: str, *, client_id: str, topics: tuple[str, ...], min_backoff: float = 0.5
) -> DeviceLink:
    """The link for a URL."""
    if url.startswith("memory://"):
        return MemoryLink(topics=topics)
    if url.startswith(("mqtt://", "tcp://")):
        from notifier.devices.mqtt import MqttLink

        return MqttLink(url, client_id=client_id, topics=topics, min_backoff=min_backoff)
    raise ValueError(f"unknown device link {url!r}; use memory:// or mqtt://host:port")
