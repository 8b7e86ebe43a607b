#!/usr/bin/env bash
# The code layout of pam_totp.so (tests/benches/hot_text.rs says why): builds the release workspace, profiles
# pam_totp logins with callgrind, and fails (exit 1) when a login runs code outside the hot part of `.text`
# that pam_totp/hot-text.ld gathers; exit 2 when it cannot run.
#
#   bench/hot-text.sh            check the release build
#   bench/hot-text.sh --write    regenerate pam_totp/hot-text.ld from the profiles; then run bench/hot-text.sh
#                                to rebuild with it and check
#
# The script is used with rust-lld only (pam_totp/build.rs); elsewhere this check fails (exit 2).
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2

die() { echo "bench/hot-text.sh: error: $*" >&2; exit 2; }
for tool in cargo cc nm valgrind; do
    command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool (apt-get install valgrind for callgrind)"
done

target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p') || die "cargo metadata failed"
[ -n "$target" ] || die "cannot find the target directory"

# --write profiles a build without the old script (the names it profiles do not depend on the layout), so that
# a broken script cannot stop its own regeneration.
# If regenerating fails, the old script is put back.
case " $* " in
    *" --write "*)
        old=$(mktemp)
        cp pam_totp/hot-text.ld "$old" 2>/dev/null || : >"$old"
        trap '[ -s pam_totp/hot-text.ld ] || { [ -s "$old" ] && cp "$old" pam_totp/hot-text.ld; }; rm -f "$old"' EXIT
        rm -f pam_totp/hot-text.ld
        ;;
esac
cargo build --release --workspace --locked >&2 || die "release build failed"

PAM_MODULE_DIR="$target/release" cargo bench -p pam-harness --bench hot_text --locked -- "$@"
