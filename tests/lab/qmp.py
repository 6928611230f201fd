#!/usr/bin/env python3
"""Minimal QMP client for the QEMU lab: runs one command on a QEMU monitor socket.

Usage: qmp.py SOCKET COMMAND [JSON-ARGUMENTS]
  e.g. qmp.py run/qmp.sock device_add '{"driver": "nvme", "id": "hp0", "bus": "rp1"}'
Prints the command's "return" value as JSON on stdout and the asynchronous events that arrived
meanwhile on stderr. Exit status: 0 success; 1 QEMU answered with an error (printed on stderr);
2 usage, connection or protocol error.
"""
import json
import socket
import sys


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    sock_path, command = argv[1], argv[2]
    try:
        args = json.loads(argv[3]) if len(argv) == 4 else None
    except ValueError as e:
        sys.stderr.write(f"qmp: bad JSON arguments: {e}\n")
        return 2
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(sock_path)
        f = s.makefile("rw", encoding="utf-8", newline="\n")

        def call(cmd, arguments=None):
            msg = {"execute": cmd}
            if arguments is not None:
                msg["arguments"] = arguments
            f.write(json.dumps(msg) + "\n")
            f.flush()
            while True:
                line = f.readline()
                if not line:
                    raise ConnectionError("QEMU closed the monitor socket")
                reply = json.loads(line)
                if "event" in reply:
                    sys.stderr.write("event: " + json.dumps(reply) + "\n")
                    continue
                return reply

        greeting = json.loads(f.readline() or "{}")
        if "QMP" not in greeting:
            raise ConnectionError(f"no QMP greeting: {greeting}")
        call("qmp_capabilities")
        reply = call(command, args)
    except (OSError, ValueError, ConnectionError) as e:
        sys.stderr.write(f"qmp: {sock_path}: {e}\n")
        return 2
    if "error" in reply:
        sys.stderr.write(f"qmp: {command}: {json.dumps(reply['error'])}\n")
        return 1
    print(json.dumps(reply.get("return")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
