"""A device's MQTT side for tests: a real MQTT 3.1.1 client (paho-mqtt) signing in with a
device credential, as a field device does (ADR 0306)."""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


class MqttDevice:
    """One connection to ``port`` on 127.0.0.1. Its client id is the device id the credential
    names unless ``client_id`` says otherwise (the only one the listener allows, ADR 0348)."""

    def __init__(
        self, port: int, credential: str, client_id: str | None = None, wait: float = 30.0
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=credential.split(".")[2] if client_id is None else client_id,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        self.client.username_pw_set("device", credential)
        self.port, self.wait = port, wait
        self.reason = ""
        self.dropped = threading.Event()
        self.client.on_disconnect = lambda *_: self.dropped.set()

    def connect(self) -> str:
        """The CONNACK reason: "Success" or why the listener refused; no reconnection after."""
        done = threading.Event()

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            self.reason = str(reason)
            done.set()

        self.client.on_connect = on_connect
        self.client.reconnect_delay_set(30, 30)
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert done.wait(self.wait), "no CONNACK"
        return self.reason

    def publish(self, to: str, readings: list[dict[str, Any]], padding: int = 0) -> None:
        """A batch, acknowledged (QoS 1); ``padding`` bytes of JSON whitespace make it large."""
        body = json.dumps({"readings": readings}).encode() + b" " * padding
        info = self.client.publish(to, body, qos=1)
        info.wait_for_publish(self.wait)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
