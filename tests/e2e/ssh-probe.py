#!/usr/bin/python3
"""Attacker-shaped SSH clients for the e2e scenarios (Debian's /usr/bin/python3 with python3-paramiko).

  ssh-probe.py leave  --port P --user U --key KEY --guess G [-n N]
      N logins; each answers the first keyboard-interactive prompt (the password prompt of a stack with
      try_first_pass) with G, then disconnects at the verification-code prompt. Prints "left=K of N" (K:
      logins that reached the code prompt and left there).
  ssh-probe.py hold   --port P --user U --key KEY --guess G [-n N] [--stagger S]
      N logins started S seconds apart; each waits at the code prompt; when all wait, they answer G one at a
      time, newest first, each after the previous one has finished. Prints "refused=K of N".
  ssh-probe.py name   --port P --user NAME --guess G
      one keyboard-interactive login (no key) as NAME, any name at all, answering every prompt with G.
      Prints "refused" or "accepted".
"""
import argparse
import socket
import sys
import threading
import time

import paramiko


def connect(a, key):
    sock = socket.create_connection(("127.0.0.1", a.port), timeout=30)
    t = paramiko.Transport(sock)
    t.start_client(timeout=30)
    if key is not None:
        rest = t.auth_publickey(a.user, key)
        if t.is_authenticated() or "keyboard-interactive" not in rest:
            raise RuntimeError("key alone was enough or no keyboard-interactive")
    return t


class Leave(Exception):
    """Raised from the prompt handler to drop the connection at the code prompt."""


def leave(a, key):
    left = 0
    for _ in range(a.n):
        t = connect(a, key)
        seen = []

        def handler(_title, _instr, prompts):
            if not prompts:
                return []
            seen.append(prompts[0][0])
            if "Verification code" in prompts[0][0]:
                raise Leave()
            return [a.guess for _ in prompts]

        try:
            t.auth_interactive(a.user, handler)
        except Leave:
            left += 1
        except paramiko.AuthenticationException:
            pass
        finally:
            t.close()
    print(f"left={left} of {a.n}")
    return 0


def hold(a, key):
    lock = threading.Lock()
    arrived = []            # thread indexes in the order they reached the code prompt
    go = [threading.Event() for _ in range(a.n)]
    done = [threading.Event() for _ in range(a.n)]
    results = [None] * a.n

    def one(i):
        t = None
        try:
            t = connect(a, key)

            def handler(_title, _instr, prompts):
                if not prompts:
                    return []
                with lock:
                    arrived.append(i)
                go[i].wait(timeout=120)
                return [a.guess for _ in prompts]

            t.auth_interactive(a.user, handler)
            results[i] = "accepted"
        except paramiko.AuthenticationException:
            results[i] = "refused"
        except Exception as e:  # noqa: BLE001
            results[i] = f"error: {type(e).__name__}: {e}"
        finally:
            if t is not None:
                t.close()
            done[i].set()

    threads = []
    for i in range(a.n):
        th = threading.Thread(target=one, args=(i,))
        th.start()
        threads.append(th)
        time.sleep(a.stagger)
    deadline = time.time() + 60
    while len(arrived) < a.n and time.time() < deadline:
        time.sleep(0.05)
    for i in reversed(list(arrived)):
        go[i].set()
        done[i].wait(timeout=60)
    for e in go:
        e.set()
    for th in threads:
        th.join()
    print(f"refused={results.count('refused')} of {a.n}")
    errors = [r for r in results if r not in ("accepted", "refused")]
    for r in errors:
        print(r, file=sys.stderr)
    return 1 if errors else 0


def name(a):
    t = connect(a, None)
    try:
        t.auth_interactive(a.user, lambda _t, _i, prompts: [a.guess for _ in prompts])
        print("accepted")
    except paramiko.AuthenticationException:
        print("refused")
    finally:
        t.close()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["leave", "hold", "name"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--key")
    ap.add_argument("--guess", required=True)
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("--stagger", type=float, default=0.0)
    a = ap.parse_args()
    key = paramiko.Ed25519Key.from_private_key_file(a.key) if a.key else None
    if a.mode == "leave":
        return leave(a, key)
    if a.mode == "hold":
        return hold(a, key)
    return name(a)


if __name__ == "__main__":
    sys.exit(main())
