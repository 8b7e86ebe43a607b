#!/usr/bin/env bash
# Benchmark of pam-totpd against PostgreSQL's own ceiling, in ONE run (about 2 minutes): a throwaway
# PostgreSQL 15 cluster with the schema, pgbench calling totp.verify (1 and 32 clients), pam-totpd driven
# through its Unix socket (1 and 32 clients), and whole-process logins through real libpam with
# store=pamd against the file backend. Targets: pam-totpd >= 0.7 of pgbench's transactions/s at 32 clients,
# its p99 <= 25 ms, the module's CPU time per pamd login within 1.2x of a file-backend login's (medians less
# the pam_permit floor; wall times are printed beside). Exits 1 if one is missed,
# 2 if it cannot run. Method and current figures: bench/README.md.
#
#   bench/fleet.sh        FLEET_SECONDS=N (default 10) per load phase, FLEET_RUNS=N (default 300) login
#                         rounds, FLEET_USERS=N (default 5000) enrolled users, FLEET_POOL=N (default 8)
#   FLEET_HA=1 bench/fleet.sh   instead: 64 clients on two hosts for FLEET_HA_SECONDS (default 60) against a
#                         primary with a synchronous standby: no accepted replay, no lost audit row, p99
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2

die() { echo "bench/fleet.sh: error: $*" >&2; exit 2; }
for tool in cargo cc; do
    command -v "$tool" >/dev/null 2>&1 || die "missing tool: $tool"
done
pg_bin=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
for tool in initdb pg_ctl psql pgbench; do
    [ -x "$pg_bin/$tool" ] || die "$pg_bin/$tool is missing (apt-get install postgresql-15 postgresql-contrib)"
done

target=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p') || die "cargo metadata failed"
[ -n "$target" ] || die "cannot find the target directory"

cargo build --release --locked -p pam_totp -p pam-totpd -p pam-harness >&2 || die "release build failed"

PAM_MODULE_DIR="$target/release" cargo bench -p pam-harness --bench fleet --locked
