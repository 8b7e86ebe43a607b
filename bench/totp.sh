#!/usr/bin/env bash
# Benchmark of pam_totp against pam_google_authenticator: whole-process logins through the same driver
# (pamh on real libpam, and pamc, a C client like sshd), the two modules interleaved in ONE run, N logins per
# case. Prints medians, the floor (pam_permit), the ratios of medians pam_totp / GA and the paired
# per-round differences. Targets: right code <= 1.10x, wrong code <= 0.70x, refusal times of every kind of
# user within the run's noise (case enum); exits 1 if one is missed, 2 if
# it cannot run. Method and current figures: bench/README.md.
#
#   bench/totp.sh                 BENCH_RUNS=N (default 200) logins per case and module,
#                                 BENCH_CASES=right,wrong,noskewadj,scratch,tmpfs,right-c,scratch-c,rustfloor,enum
#                                 (default all)
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2

die() { echo "bench/totp.sh: error: $*" >&2; exit 2; }
for tool in cargo cc; do
    command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
[ -e /lib/x86_64-linux-gnu/security/pam_google_authenticator.so ] \
    || die "pam_google_authenticator.so is missing (apt-get install libpam-google-authenticator)"

target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p') || die "cargo metadata failed"
[ -n "$target" ] || die "cannot find the target directory"

cargo build --release --workspace --locked >&2 || die "release build failed"

# As root, the run happens in a private mount namespace whose /var/lib is a fresh directory on the same disk
# as the benchmark's secret files, holding pam_totp's decoy directory (the `enum` case needs it); nothing is
# mounted or created on the host.
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1; then
    varlib=$(mktemp -d "${TMPDIR:-/tmp}/bench-varlib.XXXXXX") || die "mktemp failed"
    install -d -m 0700 "$varlib/pam_totp"
    rc=0
    PAM_MODULE_DIR="$target/release" unshare --mount --propagation private -- sh -c \
        'mount --bind "$1" /var/lib && shift && exec "$@"' sh "$varlib" \
        cargo bench -p pam-harness --bench totp --locked || rc=$?
    rm -rf "$varlib"
    exit "$rc"
fi
PAM_MODULE_DIR="$target/release" cargo bench -p pam-harness --bench totp --locked
