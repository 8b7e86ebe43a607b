#!/usr/bin/python3
"""N simultaneous SSH logins that answer the keyboard-interactive prompt at the same instant.

  ssh-race.py --port P --user U --key KEY --code CODE [-n 16]

Each of N threads connects, authenticates with the key (partial success), starts keyboard-interactive and
waits at the module's prompt; when all N modules are waiting (or after 20 s), every answer is sent at once.
This is the tightest race for one-time codes that a client can produce. Prints "successes=K of N" (K =
logins that authenticated and ran `id -un` printing the user); exits 0 unless a login errored for another
reason than a refused code. Use Debian's /usr/bin/python3 (apt python3-paramiko).
"""
import argparse
import socket
import sys
import threading

import paramiko


def one(a, key, barrier, results, i):
    waited = []

    def handler(_title, _instr, prompts):
        # sshd also sends info requests with no prompt (PAM messages, the end of the PAM dialogue):
        # only the first real prompt of each connection joins the barrier.
        if prompts and not waited:
            waited.append(True)
            try:
                barrier.wait(timeout=20)
            except threading.BrokenBarrierError:
                pass
        return [a.code for _ in prompts]

    t = None
    try:
        sock = socket.create_connection(("127.0.0.1", a.port), timeout=30)
        t = paramiko.Transport(sock)
        t.start_client(timeout=30)
        rest = t.auth_publickey(a.user, key)
        if t.is_authenticated() or "keyboard-interactive" not in rest:
            results[i] = "error: key alone was enough or no keyboard-interactive"
            return
        t.auth_interactive(a.user, handler)
        chan = t.open_session(timeout=30)
        chan.exec_command("id -un")
        out = b""
        while True:
            buf = chan.recv(4096)
            if not buf:
                break
            out += buf
        rc = chan.recv_exit_status()
        results[i] = "ok" if rc == 0 and out.decode().strip() == a.user else f"error: rc={rc} out={out!r}"
    except paramiko.AuthenticationException:
        results[i] = "refused"
    except Exception as e:  # noqa: BLE001
        results[i] = f"error: {type(e).__name__}: {e}"
    finally:
        if t is not None:
            t.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--code", required=True)
    ap.add_argument("-n", type=int, default=16)
    a = ap.parse_args()
    key = paramiko.Ed25519Key.from_private_key_file(a.key)
    barrier = threading.Barrier(a.n)
    results = [None] * a.n
    threads = [threading.Thread(target=one, args=(a, key, barrier, results, i)) for i in range(a.n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ok = results.count("ok")
    print(f"successes={ok} of {a.n}")
    errors = [r for r in results if r not in ("ok", "refused")]
    for r in errors:
        print(r, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
