#!/usr/bin/python3
"""/dev/log sink for the end-to-end tier: binds an AF_UNIX datagram socket at
argv[1] (inside a private mount namespace or a container) and appends every
message, one per line, to argv[2], so scenarios can grep the modules' lines.
Stops on SIGTERM/SIGINT."""
import os
import signal
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
with open(out, "a", buffering=1) as f:
    while True:
        data = s.recv(65536)
        f.write(data.decode("utf-8", "replace").rstrip("\n\0") + "\n")
