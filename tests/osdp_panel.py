"""An access-control panel for the OSDP tests: libosdp's ControlPanel
(PyPI `libosdp`, not written here) on a pseudo-terminal it makes.

Prints JSON lines on stdout: {"pty": PATH} first (the daemon's port), then
{"online": bool, "sc": bool} on every change, and {"card": {...}} for each
card read, decoded as 26-bit Wiegand. A card whose number is in --grant is
answered with a green LED, any other with a red one. --keyset HEX installs
that key once Secure Channel is up, and prints {"keyset": status};
--comset ADDRESS BAUD moves the reader there once Secure Channel is up,
and prints {"comset": status}.
Runs until stdin closes.
"""

import argparse
import json
import os
import sys
import threading
import time
import tty

import osdp


def say(**what):
    print(json.dumps(what), flush=True)


class PtyChannel(osdp.Channel):
    def __init__(self, fd):
        super().__init__()
        self.fd = fd

    def read(self, max_bytes):
        try:
            return os.read(self.fd, max_bytes)
        except (BlockingIOError, OSError):
            return b""

    def write(self, buf):
        try:
            return os.write(self.fd, buf)
        except (BlockingIOError, OSError):
            return 0

    def flush(self):
        pass


def wiegand26(data, bits):
    value = int.from_bytes(data, "big") >> (len(data) * 8 - bits)
    word = [(value >> (bits - 1 - i)) & 1 for i in range(bits)]
    first, second = word[1:13], word[13:25]
    parity_ok = (word[0] + sum(first)) % 2 == 0 and (word[25] + sum(second)) % 2 == 1
    facility = int("".join(map(str, word[1:9])), 2)
    number = int("".join(map(str, word[9:25])), 2)
    return {"bits": bits, "facility": facility, "number": number, "parityOk": parity_ok}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", type=int, default=0)
    parser.add_argument("--key", default="")
    parser.add_argument("--grant", type=int, nargs="*", default=[])
    parser.add_argument("--keyset", default="")
    parser.add_argument("--comset", type=int, nargs=2, default=None)
    args = parser.parse_args()

    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    say(pty=os.ttyname(slave))

    info = osdp.PDInfo(
        args.address,
        PtyChannel(master),
        scbk=bytes.fromhex(args.key) if args.key else None,
    )
    panel = osdp.ControlPanel([info], log_level=osdp.LogLevel.Warning)
    panel.start()
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()

    state = None
    keyset_sent = False
    comset_sent = False
    while True:
        now = (panel.is_online(args.address), panel.is_sc_active(args.address))
        if now != state:
            state = now
            say(online=now[0], sc=now[1])
        if args.keyset and now[1] and not keyset_sent:
            keyset_sent = True
            command = {"command": osdp.Command.Keyset, "type": 1, "data": bytes.fromhex(args.keyset)}
            say(keyset=bool(panel.submit_command(args.address, command)))
        if args.comset and now[1] and not comset_sent:
            comset_sent = True
            address, baud = args.comset
            command = {"command": osdp.Command.Comset, "address": address, "baud_rate": baud}
            say(comset=bool(panel.submit_command(args.address, command)))
        event = panel.get_event(args.address, timeout=0.1)
        if not event or event.get("event") != osdp.Event.CardRead:
            continue
        bits = event.get("length") or len(event["data"]) * 8
        card = wiegand26(bytes(event["data"]), bits) if bits == 26 else {"bits": bits}
        say(card=card)
        granted = card.get("number") in args.grant
        color = osdp.CommandLEDColor.Green if granted else osdp.CommandLEDColor.Red
        panel.submit_command(args.address, {
            "command": osdp.Command.LED,
            "reader": 0,
            "led_number": 0,
            "control_code": 2,
            "on_count": 10,
            "off_count": 0,
            "on_color": color,
            "off_color": osdp.CommandLEDColor.Black,
            "timer_count": 20,
            "temporary": True,
        })
        time.sleep(0.01)


if __name__ == "__main__":
    main()
