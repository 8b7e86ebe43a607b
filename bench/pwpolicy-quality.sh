#!/usr/bin/env bash
# Quality benchmark of pam_pwpolicy (issue 18), not a test gate: how many realistic decorated-word
# passwords each policy accepts, beside pam_pwquality (libpwquality through python3-pwquality) on the same
# inputs, and how many random passwords and passphrases it refuses (false refusals).
#
#   bench/pwpolicy-quality.sh          QUALITY_N=N variants per family (default 300), QUALITY_SEED=S,
#                                      PWPOLICY=path of another pwpolicy binary to measure (default: this tree's)
#
# Word lists come from Debian packages installed here, never committed: john (password.lst), wamerican
# (/usr/share/dict/american-english), nmap-common (nselib passwords.lst), ncrack (default.pwd, top50000.pwd
# when present). Policies: the hardening guide's pam_cracklib line, the defaults, and our NIST preset
# (pam_pwquality has none: it gets minlen=15 with its defaults). Targets: guide line <= 15% accepted, NIST
# preset <= 1%, false refusals 0. Exits 1 when a target is missed, 2 when it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2

die() { echo "bench/pwpolicy-quality.sh: error: $*" >&2; exit 2; }
command -v cargo >/dev/null || die "missing tool: cargo"
/usr/bin/python3 -c 'import pwquality' 2>/dev/null || die "python3-pwquality is not installed"

pkgs=()
[ -r /usr/share/john/password.lst ] || pkgs+=(john)
[ -r /usr/share/dict/american-english ] || pkgs+=(wamerican)
[ -r /usr/share/nmap/nselib/data/passwords.lst ] || pkgs+=(nmap-common)
[ -d /usr/share/ncrack ] || pkgs+=(ncrack)
if [ "${#pkgs[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2 \
        || die "apt-get install ${pkgs[*]} failed (run apt-get update first)"
fi

cargo build --release -p pam_pwpolicy --no-default-features --features cli --bin pwpolicy --locked >&2 || die "build failed"
target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') \
    || die "cargo metadata failed"

PWPOLICY="${PWPOLICY:-$target/release/pwpolicy}" QUALITY_N="${QUALITY_N:-300}" QUALITY_SEED="${QUALITY_SEED:-18}" \
    /usr/bin/python3 - <<'PY'
import glob, json, os, random, subprocess, sys
import pwquality

N = int(os.environ["QUALITY_N"])
rng = random.Random(int(os.environ["QUALITY_SEED"]))
PWPOLICY = os.environ["PWPOLICY"]

def read_words(paths):
    out = []
    for p in paths:
        try:
            with open(p, encoding="latin-1") as f:
                for line in f:
                    w = line.strip()
                    if w and not w.startswith("#!comment"):
                        out.append(w)
        except OSError:
            pass
    return out

def alpha(words, lo=4, hi=10):
    seen, out = set(), []
    for w in words:
        w = w.lower()
        if w.isascii() and w.isalpha() and lo <= len(w) <= hi and w not in seen:
            seen.add(w)
            out.append(w)
    return out

leaked = alpha(read_words(["/usr/share/john/password.lst", "/usr/share/nmap/nselib/data/passwords.lst"]
                          + glob.glob("/usr/share/ncrack/*.pwd")))
english = alpha(read_words(["/usr/share/dict/american-english"]))
if len(leaked) < 100 or len(english) < 1000:
    sys.exit("bench/pwpolicy-quality.sh: error: word lists missing (%d leaked, %d english)" % (len(leaked), len(english)))

SYMBOLS = "!@#$%&*?."
LEET = {"a": "@", "e": "3", "i": "1", "o": "0", "s": "$"}

def year():
    return str(rng.randint(1970, 2030))

def leet(w):
    return "".join(LEET.get(c, c) if rng.random() < 0.7 else c for c in w)

def cap(w):
    return w[:1].upper() + w[1:]

# Families of decorated words as people write them (the guide's classes need an upper, a digit, a symbol).
FAMILIES = {
    "Word+year+symbol": lambda w, v: cap(w) + year() + rng.choice(SYMBOLS),
    "symbol+Word+year": lambda w, v: rng.choice(SYMBOLS) + cap(w) + year(),
    "Word+symbol+year": lambda w, v: cap(w) + rng.choice(SYMBOLS) + year(),
    "Word+123+symbol": lambda w, v: cap(w) + rng.choice(["1", "12", "123", "1234", "01", "69", "99"]) + rng.choice(SYMBOLS),
    "l33t Word+digits": lambda w, v: cap(leet(w)) + rng.choice(["1", "123", year()]) + rng.choice(["", "!"]),
    "Word+date+symbol": lambda w, v: cap(w) + "%02d%02d%04d" % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(1960, 2010)) + rng.choice(SYMBOLS),
    "WordWord+year+symbol": lambda w, v: cap(w) + cap(v) + year() + rng.choice(SYMBOLS),
    "Word+year repeated": lambda w, v: (cap(w) + year() + rng.choice(SYMBOLS)) * 2,
}

def variants(source):
    out = []
    for name, make in FAMILIES.items():
        for _ in range(N):
            out.append((name, make(rng.choice(source), rng.choice(source))))
    return out

def random_password():
    pool = [chr(c) for c in range(33, 127)]
    sysrng = random.SystemRandom()
    while True:
        pw = "".join(sysrng.choice(pool) for _ in range(sysrng.randint(16, 24)))
        # What a generator configured for the guide's classes emits.
        if (sum(c.isupper() for c in pw) >= 1 and sum(c.islower() for c in pw) >= 2
                and sum(c.isdigit() for c in pw) >= 1 and sum(not c.isalnum() for c in pw) >= 1):
            return pw

def passphrase():
    sysrng = random.SystemRandom()
    words = [w for w in english if 3 <= len(w) <= 8]
    return " ".join(sysrng.sample(words, 5))

GUIDE = "minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1".split()
POLICIES = {"guide line": GUIDE, "defaults": [], "NIST preset": ["preset=nist"]}

def ours(args, passwords):
    text = "".join(p + "\n" for p in passwords)
    r = subprocess.run([PWPOLICY, "check", "--json", *args], input=text.encode(), capture_output=True)
    if r.returncode not in (0, 1):
        sys.exit("bench/pwpolicy-quality.sh: error: pwpolicy check failed: " + r.stderr.decode())
    return [json.loads(l)["ok"] for l in r.stdout.decode().splitlines()]

def pwq_settings(args):
    s = pwquality.PWQSettings()
    if args == ["preset=nist"]:
        args = ["minlen=15"]
    for a in args:
        k, v = a.split("=")
        s.set_option("%s=%s" % (k, v))
    return s

def theirs(args, passwords):
    s = pwq_settings(args)
    out = []
    for p in passwords:
        try:
            s.check(p, None, "alice")
            out.append(True)
        except pwquality.PWQError:
            out.append(False)
    return out

def pct(xs):
    return 100.0 * sum(xs) / max(len(xs), 1)

ok = True
print("pam_pwpolicy quality: share accepted (lower is better), ours vs pam_pwquality, same inputs")
print("word lists: %d leaked-password words (john, nmap, ncrack), %d wamerican words; %d variants per family and source"
      % (len(leaked), len(english), N))
for label, source in [("leaked-password words", leaked), ("wamerican words", english)]:
    vs = variants(source)
    print()
    print("%-24s %12s %12s %12s %12s %12s %12s" % (label, "guide ours", "guide pwq", "dflt ours", "dflt pwq", "NIST ours", "NIST pwq"))
    totals = {}
    results = {}
    for pname, args in POLICIES.items():
        results[pname] = (ours(args, [p for _, p in vs]), theirs(args, [p for _, p in vs]))
    for fam in FAMILIES:
        idx = [i for i, (f, _) in enumerate(vs) if f == fam]
        row = []
        for pname in POLICIES:
            o, t = results[pname]
            row += [pct([o[i] for i in idx]), pct([t[i] for i in idx])]
        print("%-24s" % fam + "".join("%11.1f%%" % x for x in row))
    row = []
    for pname in POLICIES:
        o, t = results[pname]
        row += [pct(o), pct(t)]
        totals[pname] = pct(o)
    print("%-24s" % "all" + "".join("%11.1f%%" % x for x in row))
    if totals["guide line"] > 15.0:
        ok = False
        print("    MISSED: guide line accepts %.1f%% > 15%%" % totals["guide line"])
    if totals["NIST preset"] > 1.0:
        ok = False
        print("    MISSED: NIST preset accepts %.1f%% > 1%%" % totals["NIST preset"])

R = 1000
rand = [random_password() for _ in range(R)]
phr = [passphrase() for _ in range(R)]
print()
print("false refusals (lower is better), %d of each" % R)
print("%-40s %12s %12s %12s %12s %12s %12s" % ("", "guide ours", "guide pwq", "dflt ours", "dflt pwq", "NIST ours", "NIST pwq"))
for label, pws, policies in [("random 16-24 chars, guide's classes", rand, POLICIES),
                             ("random 5-word passphrases", phr, {"defaults": [], "NIST preset": ["preset=nist"]})]:
    row = []
    for pname, args in POLICIES.items():
        if pname not in policies:
            row += [None, None]
            continue
        o, t = ours(args, pws), theirs(args, pws)
        refused = 100.0 - pct(o)
        row += [refused, 100.0 - pct(t)]
        if refused > 0:
            ok = False
            print("    MISSED: %s refused %.1f%% under %s" % (label, refused, pname))
    print("%-40s" % label + "".join("%11.1f%%" % x if x is not None else "%12s" % "n/a" for x in row))
print()
print("(n/a: the guide's line requires classes a passphrase of lowercase words has not, by design)")
print("verdict: " + ("all targets met" if ok else "TARGET MISSED"))
sys.exit(0 if ok else 1)
PY
