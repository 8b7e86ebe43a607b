#!/usr/bin/env bash
# Benchmark of pam_pwpolicy against pam_pwquality (issue 4): cold whole-process password change, warm
# per-check time, worst case over adversarial inputs. Prints medians and ratios from ONE run and exits
# 1 if a target is missed (cold <= 2x pam_pwquality, worst case <= 10 ms), 2 if it cannot run.
#
#   bench/pwpolicy.sh                 BENCH_RUNS=N (default 100) cold runs per case
#
# pam_pwquality.so is taken from the libpam-pwquality .deb (apt-get download + dpkg-deb -x into the target
# directory), never installed: installing it would rewrite /etc/pam.d/common-password. Its libpwquality1
# dependency and python3-pwquality come from .ci/apt-packages.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2

die() { echo "bench/pwpolicy.sh: error: $*" >&2; exit 2; }
for tool in cargo apt-get dpkg-deb /usr/bin/python3; do
    command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
/usr/bin/python3 -c 'import pwquality' 2>/dev/null || die "python3-pwquality is not installed (apt-get install python3-pwquality)"

target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])') \
    || die "cargo metadata failed"

cargo build --release --workspace --locked >&2 || die "release build failed"

cache="$target/bench-cache/pwquality"
so="$cache/root/lib/x86_64-linux-gnu/security/pam_pwquality.so"
if [ ! -e "$so" ]; then
    rm -rf "$cache" && mkdir -p "$cache"
    # apt-get download writes to the current directory; as root it warns that _apt cannot write there.
    (cd "$cache" && apt-get download libpam-pwquality >&2 2>/dev/null) \
        || die "apt-get download libpam-pwquality failed (run apt-get update first)"
    dpkg-deb -x "$cache"/libpam-pwquality_*.deb "$cache/root" || die "dpkg-deb -x failed"
fi
[ -e "$so" ] || die "pam_pwquality.so not found in the package"

PWPOLICY_BENCH_PWQUALITY_SO="$so" PWPOLICY_BENCH_BUILD_DIR="$target/release" \
    cargo bench -p pam_pwpolicy --bench pwpolicy --locked
