#!/usr/bin/env bash
# Benchmark of pam_totp against pam_google_authenticator (issue 3): whole-process logins through the same
# driver (pamh on real libpam), the two modules interleaved in ONE run, N sequential logins per case (right
# code with reuse allowed, wrong code with the default skew scan, wrong code with noskewadj, scratch code
# with the file rewritten). Prints medians, the floor (pam_permit) and the ratios pam_totp / GA, with a
# verdict; exits 1 if a ratio is above the target 1.0, 2 if it cannot run.
#
#   bench/totp.sh                 BENCH_RUNS=N (default 200) logins per case and module,
#                                 BENCH_CASES=right,wrong,noskewadj,scratch,tmpfs,right-c,scratch-c,rustfloor
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

PAM_MODULE_DIR="$target/release" cargo bench -p pam-harness --bench totp --locked
