#!/usr/bin/env bash
# scenarios.sh - THE end-to-end scenario script (one script: tests/e2e/run executes it inside private
# namespaces; the Dockerfile's entry point will execute it inside a container). It changes the system it
# runs on (useradd, /etc/pam.d, /etc/ssh is not touched but an sshd is started), so it refuses to run unless
# the caller says it is a sandbox (E2E_SANDBOX=1).
#
# Environment (set by `run`; the container entry point sets the same):
#   E2E_SANDBOX=1        required; this /etc, /run and network are throwaway
#   E2E_T=DIR            work dir, traversable by the test users (homes, keys, logs)
#   E2E_SYSLOG=FILE      where the /dev/log listener writes the messages it receives (default $E2E_T/syslog.log;
#                        if /dev/log is not a socket, this script starts syslog-sink.py there itself)
#   TOTP_MODULE=PATH     absolute path (or bare name in the PAM module dir) of the TOTP module under test
#   PWPOLICY_MODULE=PATH likewise for the password-quality module (pam_pwquality.so works as an oracle)
#   E2E_USER_PREFIX      prefix of the throwaway user names (default e2e)
#   E2E_PORT             sshd port on 127.0.0.1 (default 2222)
#   E2E_ONLY="a b"       run only these scenarios (names as printed)
#   E2E_MOD_OK_RE / E2E_MOD_FAIL_RE   extended regexes for the TOTP module's success / failure log lines
#                        (%u = user name); defaults below per module
#   E2E_RESULTS=FILE     also write "PASSED FAILED" there; E2E_SUMMARY=0 suppresses the summary line
# Output: "ok NAME" or "FAIL NAME: reason" per scenario, "# ..." notes, then "e2e: N passed, N failed".
# Exit status: 0 only if every scenario passed.
set -u
export TZ=UTC LC_ALL=C
[ "${E2E_SANDBOX:-}" = 1 ] || { echo "scenarios.sh: refusing to run outside a sandbox (use tests/e2e/run)" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
T=${E2E_T:?E2E_T not set}
SYSLOG=${E2E_SYSLOG:-$T/syslog.log}
TOTP_MODULE=${TOTP_MODULE:?TOTP_MODULE not set}
PWPOLICY_MODULE=${PWPOLICY_MODULE:?PWPOLICY_MODULE not set}
PORT=${E2E_PORT:-2222}
P=${E2E_USER_PREFIX:-e2e}
U=${P}u        # enrolled user (the secret file is rewritten by each scenario that needs one)
UN=${P}n       # never enrolled
UP=${P}p       # passwd scenarios (has a Unix password)
PY=/usr/bin/python3
PASSED=0
FAILED=0

for c in /usr/sbin/sshd ssh ssh-keygen sshpass expect oathtool google-authenticator pamtester runuser useradd chpasswd sudo; do
    command -v "$c" >/dev/null 2>&1 || { echo "scenarios.sh: missing command: $c" >&2; exit 2; }
done

# ------------------------------------------------------------------ enrolment (one function)
# enroll USER [policy flags]: writes ~USER/.google_authenticator, 0400, owned by USER, with the CLI named by
# $TOTP_ENROLL (the project's totp-enroll; `google-authenticator` for the upstream CLI: same flags), run as
# USER. Policy flags default to "-D -u" (TOTP, reuse allowed, no rate limit); e.g. "-d -u" or "-D -r 3 -R 30";
# "-c ..." for counter based (HOTP).
TOTP_ENROLL=${TOTP_ENROLL:-google-authenticator}
enroll() {
    local user=$1 home f; shift
    [ $# -gt 0 ] || set -- -D -u
    home=$(getent passwd "$user" | cut -d: -f6)
    f=$home/.google_authenticator
    rm -f "$f"
    local mode=-t
    [ "$1" != -c ] || { mode=-c; shift; }
    runuser -u "$user" -- "$TOTP_ENROLL" "$mode" "$@" -w 3 -e 5 -f -C -q -Q NONE -s "$f" </dev/null >"$T/enroll.out" 2>&1 \
        && [ -s "$f" ] || { echo "# enroll: $TOTP_ENROLL failed for $user: $(head -c 300 "$T/enroll.out")" >&2; return 1; }
    [ "$(stat -c '%U %a' "$f")" = "$user 400" ] || { echo "# enroll: $f is $(stat -c '%U %a' "$f"), not $user 400" >&2; return 1; }
}
unenroll() { rm -f "$(getent passwd "$1" | cut -d: -f6)/.google_authenticator"; }
secret_file() { echo "$(getent passwd "$1" | cut -d: -f6)/.google_authenticator"; }
secret() { head -n1 "$(secret_file "$1")"; }
code() { oathtool --totp -b "$(secret "$1")"; }
scratch() { grep -E '^[0-9]{8}$' "$(secret_file "$1")" | sed -n "${2:-1}p"; }
# A 6-digit code that is valid in no step near now (window +-4 steps), so it must be refused.
wrong_code() {
    local valid c i
    valid=$(oathtool --totp -b "$(secret "$1")" -w 8 --now "$(date -u -d '-120 sec' '+%F %T UTC')")
    c=$(code "$1")
    for i in 1 2 3 4 5 6 7 8 9; do
        c=$(printf '%06d' $(((10#$c + 123457) % 1000000)))
        grep -qx "$c" <<<"$valid" || { echo "$c"; return; }
    done
}

# ------------------------------------------------------------------ PAM stacks
GUIDE_AUTH="auth [success=done new_authtok_reqd=done default=die] $TOTP_MODULE nullok"
GUIDE_PASSWORD="password requisite $PWPOLICY_MODULE retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1"
DEBIAN_UNIX_PASSWORD="password [success=1 default=ignore] pam_unix.so obscure use_authtok try_first_pass yescrypt"
# stack_minimal [module options]: the TOTP module alone for auth (pam_google_authenticator's README line).
stack_minimal() {
    printf '%s\n' "auth     required $TOTP_MODULE $*" 'account  required pam_unix.so' \
        'session  required pam_permit.so' >/etc/pam.d/sshd
}
# stack_next AUTHLINE: the given line, then a module that records that it ran ("the next module").
stack_next() {
    printf '%s\n' "$1" "auth     required pam_exec.so quiet $T/next-module.sh" \
        'account  required pam_unix.so' 'session  required pam_permit.so' >/etc/pam.d/sshd
}
# stack_debian AUTHLINE: Debian's stock /etc/pam.d/sshd with only `@include common-auth` replaced.
stack_debian() {
    sed "s|^@include common-auth\$|$1|" "$T/pam.sshd.stock" >/etc/pam.d/sshd
    grep -qxF "$1" /etc/pam.d/sshd
}

# ------------------------------------------------------------------ logs
SSHD_LOG=$T/sshd.log
mark() { SSHD_MARK=$(wc -l <"$SSHD_LOG"); SYS_MARK=$(wc -l <"$SYSLOG"); }
since() { tail -n +"$(($2 + 1))" "$1"; }
# log_has sshd|sys REGEX: the regex appears in that log since the scenario's mark (waits up to 2 s).
log_has() {
    local f m i
    if [ "$1" = sshd ]; then f=$SSHD_LOG m=$SSHD_MARK; else f=$SYSLOG m=$SYS_MARK; fi
    for i in $(seq 20); do
        since "$f" "$m" | grep -Eq -- "$2" && return 0
        sleep 0.1
    done
    return 1
}
# log_has_now: the same without waiting (for "must not appear", checked after a positive wait).
log_has_now() {
    if [ "$1" = sshd ]; then since "$SSHD_LOG" "$SSHD_MARK"; else since "$SYSLOG" "$SYS_MARK"; fi | grep -Eq -- "$2"
}
case "$(basename "$TOTP_MODULE")" in
    *google_authenticator*)
        MOD_OK_RE=${E2E_MOD_OK_RE:-'\(pam_google_authenticator\).*Accepted google_authenticator for %u$'}
        MOD_FAIL_RE=${E2E_MOD_FAIL_RE:-'\(pam_google_authenticator\).*Invalid verification code for %u$'} ;;
    *)  # pam_totp's line format is not frozen yet: a line tagged by pam_syslog ("libpam_totp(sshd:auth): ...",
        # or pam_totp(...) once installed under that name) naming the user and the outcome, in either order.
        tag='(lib)?pam_totp\([^)]*\):'
        MOD_OK_RE=${E2E_MOD_OK_RE:-"$tag.*%u.*([Aa]ccept|[Ss]uccess|via=)|$tag.*([Aa]ccept|[Ss]uccess).*%u"}
        MOD_FAIL_RE=${E2E_MOD_FAIL_RE:-"$tag.*%u.*([Ff]ail|[Ii]nvalid|[Ww]rong|[Rr]efus|[Rr]eject|[Dd]enied)|$tag.*([Ff]ail|[Ii]nvalid|[Ww]rong|[Rr]efus|[Rr]eject|[Dd]enied).*%u"} ;;
esac
# The password module's refusal line (pam_pwquality logs none; pam_pwpolicy: "libpam_pwpolicy(passwd:chauthtok):
# refused user=U rhost=- rules=..."). Empty = not checked.
case "$(basename "$PWPOLICY_MODULE")" in
    *pwpolicy*) PW_FAIL_RE=${E2E_PW_FAIL_RE-'(lib)?pam_pwpolicy\(passwd:chauthtok\): refused user=%u rhost=- '} ;;
    *) PW_FAIL_RE=${E2E_PW_FAIL_RE-} ;;
esac
mod_ok_re() { echo "${MOD_OK_RE//%u/$1}"; }
mod_fail_re() { echo "${MOD_FAIL_RE//%u/$1}"; }

# ------------------------------------------------------------------ ssh client
SSH_OPTS=(-F /dev/null -p "$PORT" -i "$T/client_key" -o IdentitiesOnly=yes -o StrictHostKeyChecking=no
          -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o KexAlgorithms=curve25519-sha256
          -o PreferredAuthentications=publickey,keyboard-interactive -o ConnectTimeout=10)
# login USER CODE [command]: key + keyboard-interactive answered with CODE; sets OUT and RC.
# rc 0 = logged in and the command exited 0; sshpass 5 = the code was refused (prompted again);
# ssh 255 = refused without (another) prompt.
login() {
    OUT=$(timeout 30 sshpass -P 'Verification code' -p "$2" ssh "${SSH_OPTS[@]}" "$1@127.0.0.1" "${3:-id -un}" 2>"$T/ssh.err")
    RC=$?
}

# ------------------------------------------------------------------ scenario bookkeeping
REASON=
why() { REASON=$*; }
scenario() { # scenario NAME FUNCTION
    if [ -n "${E2E_ONLY:-}" ] && [[ " $E2E_ONLY " != *" $1 "* ]]; then return 0; fi
    REASON=
    stack_minimal
    mark
    if "$2" && [ -z "$REASON" ]; then
        PASSED=$((PASSED + 1)); echo "ok $1"
    else
        FAILED=$((FAILED + 1)); echo "FAIL $1: ${REASON:-failed}"
    fi
}

# ------------------------------------------------------------------ the scenarios
s_right_code() {
    enroll "$U" || { why "enrolment failed"; return 1; }
    login "$U" "$(code "$U")"
    [ "$RC" = 0 ] || { why "login rc=$RC ($(head -c 200 "$T/ssh.err"))"; return 1; }
    [ "$OUT" = "$U" ] || { why "id -un printed '$OUT', expected '$U'"; return 1; }
    log_has sshd "Accepted keyboard-interactive/pam for $U " || { why "sshd.log has no 'Accepted keyboard-interactive/pam for $U'"; return 1; }
    log_has sshd "Partial publickey for $U " || { why "sshd.log has no 'Partial publickey' (key was not the first factor)"; return 1; }
    log_has sys "$(mod_ok_re "$U")" || { why "no module success line in the syslog sink (regex: $(mod_ok_re "$U"))"; return 1; }
}
s_wrong_code() {
    enroll "$U" || { why "enrolment failed"; return 1; }
    login "$U" "$(wrong_code "$U")"
    [ "$RC" != 0 ] || { why "login with a wrong code succeeded"; return 1; }
    [ -z "$OUT" ] || { why "a command ran: '$OUT'"; return 1; }
    log_has sshd "Failed keyboard-interactive/pam for $U " || { why "sshd.log has no 'Failed keyboard-interactive/pam for $U'"; return 1; }
    log_has sys "$(mod_fail_re "$U")" || { why "no module failure line in the syslog sink (regex: $(mod_fail_re "$U"))"; return 1; }
    log_has_now sshd "Accepted keyboard-interactive/pam for $U " && { why "sshd.log shows Accepted"; return 1; }
    return 0
}
s_key_alone() {
    enroll "$U" || { why "enrolment failed"; return 1; }
    OUT=$(timeout 30 ssh "${SSH_OPTS[@]}" -o BatchMode=yes "$U@127.0.0.1" id -un </dev/null 2>"$T/ssh.err"); RC=$?
    [ "$RC" = 255 ] || { why "BatchMode login rc=$RC (expected 255), output '$OUT'"; return 1; }
    log_has sshd "Partial publickey for $U " || { why "sshd.log has no 'Partial publickey for $U'"; return 1; }
    log_has_now sshd "Accepted keyboard-interactive" && { why "sshd.log shows Accepted keyboard-interactive"; return 1; }
    return 0
}
s_replayed_code() {
    enroll "$U" -d -u || { why "enrolment failed"; return 1; }
    local c; c=$(code "$U")
    login "$U" "$c"
    [ "$RC" = 0 ] && [ "$OUT" = "$U" ] || { why "first use of the code refused (rc=$RC)"; return 1; }
    login "$U" "$c"
    [ "$RC" != 0 ] || { why "replayed code accepted"; return 1; }
    log_has sshd "Failed keyboard-interactive/pam for $U " || { why "sshd.log has no Failed line for the replay"; return 1; }
}
s_scratch_once() {
    enroll "$U" || { why "enrolment failed"; return 1; }
    local sc f; sc=$(scratch "$U" 1); f=$(secret_file "$U")
    [ -n "$sc" ] || { why "no scratch code in the file"; return 1; }
    login "$U" "$sc"
    [ "$RC" = 0 ] && [ "$OUT" = "$U" ] || { why "scratch code refused on first use (rc=$RC)"; return 1; }
    ! grep -qx "$sc" "$f" || { why "used scratch code still in the secret file"; return 1; }
    [ "$(stat -c '%U %a' "$f")" = "$U 400" ] || { why "secret file now $(stat -c '%U %a' "$f") (expected $U 400)"; return 1; }
    login "$U" "$sc"
    [ "$RC" != 0 ] || { why "scratch code accepted twice"; return 1; }
}
# The README's guide line `auth [success=done new_authtok_reqd=done default=die] MODULE nullok` is NOT used
# here: a nullok user without a file makes the module return PAM_IGNORE, and `default=die` covers ignore too,
# so that line refuses such users (verified with pam_google_authenticator: "PAM: Permission denied", the next
# module never runs). Tested instead: `auth required MODULE nullok` (pam_google_authenticator's README) and the
# guide line with `ignore=ignore` added.
s_nullok_next_module() {
    local line
    unenroll "$UN"
    for line in "auth required $TOTP_MODULE nullok" \
                "auth [success=done new_authtok_reqd=done ignore=ignore default=die] $TOTP_MODULE nullok"; do
        : >"$T/next-module.log"
        stack_next "$line"
        login "$UN" 000000
        [ "$RC" = 0 ] && [ "$OUT" = "$UN" ] || { why "nullok user without a file refused (rc=$RC) with: $line"; return 1; }
        grep -q "^$UN sshd auth" "$T/next-module.log" || { why "the next module (pam_exec) did not run with: $line"; return 1; }
        # the module must not decide alone: with pam_deny next, the same user is refused
        printf '%s\n' "$line" 'auth required pam_deny.so' 'account required pam_unix.so' \
            'session required pam_permit.so' >/etc/pam.d/sshd
        login "$UN" 000000
        [ "$RC" != 0 ] || { why "with pam_deny next the nullok user still got in (module returned success, not ignore): $line"; return 1; }
    done
}
s_unenrolled_refused() {
    unenroll "$UN"
    stack_minimal
    login "$UN" 000000
    [ "$RC" != 0 ] || { why "unenrolled user without nullok logged in"; return 1; }
    log_has sshd "Failed keyboard-interactive/pam for $UN " || { why "sshd.log has no 'Failed keyboard-interactive/pam for $UN'"; return 1; }
}
s_rate_limit() {
    enroll "$U" -D -r 3 -R 30 || { why "enrolment failed"; return 1; }
    local i f; f=$(secret_file "$U")
    for i in 1 2 3; do
        login "$U" "$(code "$U")"
        [ "$RC" = 0 ] || { why "login $i of 3 inside the limit refused (rc=$RC)"; return 1; }
    done
    login "$U" "$(code "$U")"
    [ "$RC" != 0 ] || { why "4th login within 30 s accepted (RATE_LIMIT 3 30 not enforced)"; return 1; }
    # Step past the window: move every recorded attempt 120 s into the past (same inode, owner and mode).
    grep -q '^" RATE_LIMIT 3 30' "$f" || { why "no RATE_LIMIT line in the secret file"; return 1; }
    awk -v old=$(($(date +%s) - 120)) '/^" RATE_LIMIT /{ for (i = 5; i <= NF; i++) $i = old } { print }' "$f" >"$T/rl.tmp" \
        && cat "$T/rl.tmp" >"$f"
    login "$U" "$(code "$U")"
    [ "$RC" = 0 ] && [ "$OUT" = "$U" ] || { why "not recovered after the window passed (rc=$RC)"; return 1; }
}
# parallel N USER CODE: N simultaneous logins; sets NOK (how many printed the user name with rc 0).
parallel() {
    local n=$1 user=$2 c=$3 i pids=()
    rm -rf "$T/par"; mkdir "$T/par"
    for i in $(seq "$n"); do
        ( timeout 60 sshpass -P 'Verification code' -p "$c" ssh "${SSH_OPTS[@]}" "$user@127.0.0.1" id -un \
              >"$T/par/$i.out" 2>"$T/par/$i.err"; echo $? >"$T/par/$i.rc" ) &
        pids+=($!)
    done
    wait "${pids[@]}"    # not a bare `wait`: that would also wait for sshd
    NOK=0
    for i in $(seq "$n"); do
        [ "$(cat "$T/par/$i.rc")" = 0 ] && [ "$(cat "$T/par/$i.out")" = "$user" ] && NOK=$((NOK + 1))
    done
}
# race USER CODE: 16 paramiko logins that all answer the prompt at the same instant (ssh-race.py); sets NRACE.
race() {
    local out
    out=$(timeout 90 "$PY" "$HERE/ssh-race.py" --port "$PORT" --user "$1" --key "$T/client_key" --code "$2" -n 16 2>"$T/race.err")
    NRACE=$(sed -n 's/^successes=\([0-9]*\) of 16$/\1/p' <<<"$out")
    [ -n "$NRACE" ] || NRACE="? ($(head -c 200 "$T/race.err"))"
}
s_parallel_reuse() {
    enroll "$U" -D -u || { why "enrolment failed"; return 1; }
    parallel 16 "$U" "$(code "$U")"
    race "$U" "$(code "$U")"
    echo "# parallel-16-reuse-allowed: OpenSSH clients $NOK of 16, simultaneous answers (paramiko) $NRACE of 16"
    [ "$NOK" = 16 ] || { why "$NOK of 16 parallel OpenSSH logins succeeded (reuse allowed: all must)"; return 1; }
    [ "$NRACE" = 16 ] || { why "$NRACE of 16 simultaneous logins succeeded (reuse allowed: all must)"; return 1; }
}
s_parallel_one_time() {
    enroll "$U" -d -u || { why "enrolment failed"; return 1; }
    parallel 16 "$U" "$(code "$U")"
    enroll "$U" -d -u || { why "enrolment failed"; return 1; }
    race "$U" "$(code "$U")"
    echo "# parallel-16-same-code-disallow-reuse ($(basename "$TOTP_MODULE")): OpenSSH clients $NOK of 16, simultaneous answers (paramiko) $NRACE of 16"
    [ "$NOK" = 1 ] || { why "$NOK of 16 parallel OpenSSH logins with the same code succeeded under DISALLOW_REUSE (expected exactly 1)"; return 1; }
    [ "$NRACE" = 1 ] || { why "$NRACE of 16 simultaneous logins with the same code succeeded under DISALLOW_REUSE (expected exactly 1)"; return 1; }
}
# HOTP (counter based, "-c"): the code for the stored counter works once; a code a little ahead (inside the
# window of 3) resynchronises; a code behind the counter is refused.
s_hotp() {
    enroll "$U" -c -u || { why "enrolment failed"; return 1; }
    local f n c1; f=$(secret_file "$U")
    n=$(sed -n 's/^" HOTP_COUNTER \([0-9]*\)$/\1/p' "$f")
    [ -n "$n" ] || { why "no HOTP_COUNTER line in the secret file"; return 1; }
    c1=$(oathtool --hotp -b "$(secret "$U")" -c "$n")
    login "$U" "$c1"
    [ "$RC" = 0 ] && [ "$OUT" = "$U" ] || { why "HOTP code for counter $n refused (rc=$RC)"; return 1; }
    login "$U" "$c1"
    [ "$RC" != 0 ] || { why "HOTP code for counter $n accepted twice"; return 1; }
    login "$U" "$(oathtool --hotp -b "$(secret "$U")" -c $((n + 2)))"
    [ "$RC" = 0 ] || { why "HOTP code 2 ahead (inside the window) refused (rc=$RC)"; return 1; }
    login "$U" "$(oathtool --hotp -b "$(secret "$U")" -c $((n + 1)))"
    [ "$RC" != 0 ] || { why "HOTP code behind the counter accepted"; return 1; }
}
# grace_period=60: after a login with a code, a second login from the same address within 60 s needs no code
# (a wrong one is accepted); from another address (ssh -b 127.0.0.2) the code is still required.
# Enrolled with DISALLOW_REUSE: pam_google_authenticator 20191231 writes its "LAST0 host time" record only when
# it rewrites the file for another reason, so with "-D -u" its grace period never starts (seen here).
s_grace_period() {
    enroll "$U" -d -u || { why "enrolment failed"; return 1; }
    stack_minimal grace_period=60
    local w; w=$(wrong_code "$U")
    login "$U" "$w"
    [ "$RC" != 0 ] || { why "wrong code accepted before any login"; return 1; }
    login "$U" "$(code "$U")"
    [ "$RC" = 0 ] || { why "right code refused (rc=$RC)"; return 1; }
    login "$U" "$w"
    [ "$RC" = 0 ] && [ "$OUT" = "$U" ] || { why "second login from 127.0.0.1 within the grace period refused (rc=$RC)"; return 1; }
    OUT=$(timeout 30 sshpass -P 'Verification code' -p "$w" ssh "${SSH_OPTS[@]}" -b 127.0.0.2 "$U@127.0.0.1" id -un 2>"$T/ssh.err"); RC=$?
    [ "$RC" != 0 ] || { why "wrong code accepted from another address (127.0.0.2) during 127.0.0.1's grace period"; return 1; }
}
# state= (issue 22): the secret file on a read-only bind mount (the user's home, inside this sandbox's own
# mount namespace; in a container, a home the user cannot write), the state in a root-owned 0700 directory. Replay refused, RATE_LIMIT attempts counted,
# a scratch code single-use, the HOTP counter advancing; the secret file unchanged throughout.
state_checks() { # state_checks STATE_FILE SECRET_FILE
    local st=$1 f=$2 c sc n
    c=$(code "$U"); sc=$(scratch "$U" 1)
    login "$U" "$c"
    [ "$RC" = 0 ] && [ "$OUT" = "$U" ] || { why "right code refused with a read-only secret file (rc=$RC)"; return 1; }
    login "$U" "$c"
    [ "$RC" != 0 ] || { why "replayed code accepted with state="; return 1; }
    login "$U" "$sc"
    [ "$RC" = 0 ] || { why "scratch code refused on first use with state= (rc=$RC)"; return 1; }
    login "$U" "$sc"
    [ "$RC" != 0 ] || { why "scratch code accepted twice with state="; return 1; }
    n=$(sed -n 's/^attempts=//p' "$st" | wc -w)
    [ "$n" = 4 ] || { why "the state file records $n RATE_LIMIT attempts, expected 4"; return 1; }
    [ "$(stat -c '%U %a' "$st")" = "root 600" ] || { why "state file is $(stat -c '%U %a' "$st")"; return 1; }
    grep -qx "$sc" "$f" || { why "the scratch code left the read-only secret file?"; return 1; }
}
state_hotp_checks() { # state_hotp_checks STATE_FILE SECRET_FILE COUNTER
    local st=$1 f=$2 n=$3 c
    c=$(oathtool --hotp -b "$(secret "$U")" -c "$n")
    login "$U" "$c"
    [ "$RC" = 0 ] || { why "HOTP code for counter $n refused with state= (rc=$RC)"; return 1; }
    login "$U" "$c"
    [ "$RC" != 0 ] || { why "HOTP code accepted twice with state="; return 1; }
    grep -qx "hotp_counter=$((n + 2))" "$st" || { why "state file counter: $(grep hotp_counter "$st"), expected $((n + 2))"; return 1; }
}
# read_only_home HOME: a read-only bind mount where this sandbox may mount (tests/e2e/run), else (a container
# without CAP_SYS_ADMIN) a home its owner cannot write, mode 0555; sets RO_UNDO.
read_only_home() {
    if mount --bind "$1" "$1" 2>/dev/null; then
        mount -o remount,bind,ro "$1" && { RO_UNDO="unmount_home $1"; return 0; }
        unmount_home "$1"
    fi
    RO_UNDO="chmod $(stat -c %a "$1") $1"
    chmod 0555 "$1"
}
# unmount_home HOME: the last session's sshd may still have its cwd there for a moment (seen in the Debian
# install test): retry, then detach lazily.
unmount_home() {
    local i
    for i in $(seq 50); do umount "$1" 2>/dev/null && return 0; sleep 0.1; done
    umount -l "$1"
}
s_state_read_only_secret() {
    local f home sd st sum n ok=0
    sd=$T/pam_totp-state; st=$sd/$U
    rm -rf "$sd"; install -d -m 0700 -o root -g root "$sd"
    stack_minimal "state=$sd/\${USER}"
    f=$(secret_file "$U"); home=$(dirname "$f")
    enroll "$U" -d -r 5 -R 30 || { why "enrolment failed"; return 1; }
    sum=$(sha256sum <"$f")
    read_only_home "$home" || { why "cannot make $home read-only"; return 1; }
    state_checks "$st" "$f" && ok=1
    $RO_UNDO
    [ "$ok" = 1 ] || return 1
    [ "$(sha256sum <"$f")" = "$sum" ] || { why "the secret file changed"; return 1; }
    enroll "$U" -c -u || { why "HOTP enrolment failed"; return 1; }
    n=$(sed -n 's/^" HOTP_COUNTER \([0-9]*\)$/\1/p' "$f")
    read_only_home "$home" || { why "cannot make $home read-only"; return 1; }
    ok=0; state_hotp_checks "$st" "$f" "$n" && ok=1
    $RO_UNDO
    [ "$ok" = 1 ]
}
s_debian_stock_stack() {
    enroll "$U" || { why "enrolment failed"; return 1; }
    stack_debian "$GUIDE_AUTH" || { why "stock /etc/pam.d/sshd has no '@include common-auth' line"; return 1; }
    login "$U" "$(code "$U")"
    [ "$RC" = 0 ] && [ "$OUT" = "$U" ] || { why "right code refused with the stock stack (rc=$RC, '$OUT')"; return 1; }
    login "$U" "$(wrong_code "$U")"
    [ "$RC" != 0 ] || { why "wrong code accepted with the stock stack"; return 1; }
    log_has sshd "Accepted keyboard-interactive/pam for $U " || { why "no Accepted line"; return 1; }
    log_has sshd "Failed keyboard-interactive/pam for $U " || { why "no Failed line"; return 1; }
}
PW0='Initial-Pw-4x9Q'
PW_WEAK='password'
PW_STRONG='Qz7-mKwr!tPv8e'
shadow_hash() { getent shadow "$1" | cut -d: -f2; }
# chpasswd goes through common-password too: set the starting password with Debian's stock file in place.
set_initial_password() {
    cp "$T/pam.common-password.stock" /etc/pam.d/common-password
    echo "$UP:$PW0" | chpasswd
}
write_common_password() {
    printf '%s\n' "$GUIDE_PASSWORD" "$DEBIAN_UNIX_PASSWORD" 'password requisite pam_deny.so' \
        'password required pam_permit.so' >/etc/pam.d/common-password
}
s_passwd_weak_refused() {
    set_initial_password
    write_common_password
    local h0 tr; h0=$(shadow_hash "$UP")
    tr=$(expect "$HERE/chpw.exp" "$UP" "$PW0" "$PW_WEAK" 2>&1); RC=$?
    printf '%s\n' "$tr" >"$T/passwd-weak.transcript"
    [ "$RC" != 0 ] || { why "passwd exited 0 for a weak password"; return 1; }
    grep -q 'BAD PASSWORD' <<<"$tr" || { why "no 'BAD PASSWORD' on the terminal (transcript: $(tr '\r\n' '  ' <<<"$tr" | head -c 300))"; return 1; }
    [ "$(shadow_hash "$UP")" = "$h0" ] || { why "shadow hash changed"; return 1; }
    [ -z "$PW_FAIL_RE" ] || log_has sys "${PW_FAIL_RE//%u/$UP}" || { why "no refusal line from the password module in the syslog sink (regex: ${PW_FAIL_RE//%u/$UP})"; return 1; }
    log_has_now sys "pam_unix\(passwd:chauthtok\): password changed for $UP" && { why "pam_unix logged a password change"; return 1; }
    return 0
}
# Issue 19: one refusal names every problem worth fixing (the missing kinds of character and the sequence),
# so the user does not burn a retry on each; a one-letter password is "too short", not "a palindrome".
s_passwd_refusal_names_both() {
    set_initial_password
    write_common_password
    local tr first
    tr=$(expect "$HERE/chpw.exp" "$UP" "$PW0" abcdefghijkl 2>&1)
    printf '%s\n' "$tr" >"$T/passwd-refusal.transcript"
    first=$(grep -m1 -A8 'BAD PASSWORD' <<<"$tr" | tr -d '\r' | tr '\n' ' ')
    [[ $first == *"BAD PASSWORD: is too simple; is a sequence or a repeat"* ]] \
        || { why "first refusal: ${first:-none} (transcript in passwd-refusal.transcript)"; return 1; }
    [[ $first == *"Add at least 1 digit"* && $first == *"Sequences like abc"* ]] \
        || { why "the first refusal does not say both what to add and what to avoid: $first"; return 1; }
    tr=$(expect "$HERE/chpw.exp" "$UP" "$PW0" x 2>&1)
    first=$(grep -m1 'BAD PASSWORD' <<<"$tr" | tr -d '\r')
    [[ $first == "BAD PASSWORD: is too short"* ]] || { why "'x' refused as: ${first:-nothing}"; return 1; }
    return 0
}
s_passwd_strong_accepted() {
    set_initial_password
    write_common_password
    local h0 tr; h0=$(shadow_hash "$UP")
    tr=$(expect "$HERE/chpw.exp" "$UP" "$PW0" "$PW_STRONG" 2>&1); RC=$?
    printf '%s\n' "$tr" >"$T/passwd-strong.transcript"
    [ "$RC" = 0 ] || { why "passwd rc=$RC (transcript: $(tr '\r\n' '  ' <<<"$tr" | head -c 300))"; return 1; }
    [ "$(shadow_hash "$UP")" != "$h0" ] || { why "shadow hash unchanged"; return 1; }
    grep -q 'password updated successfully' <<<"$tr" || { why "passwd did not say 'password updated successfully'"; return 1; }
    log_has sys "pam_unix\(passwd:chauthtok\): password changed for $UP" || { why "no pam_unix 'password changed' line in the syslog sink"; return 1; }
    printf '%s\n' 'auth required pam_unix.so' 'account required pam_unix.so' >/etc/pam.d/e2e-unix
    pamtester e2e-unix "$UP" authenticate <<<"$PW_STRONG" >/dev/null 2>&1 || { why "new password does not authenticate (pamtester)"; return 1; }
    ! pamtester e2e-unix "$UP" authenticate <<<"$PW0" >/dev/null 2>&1 || { why "old password still authenticates"; return 1; }
}

# sudo with pam_totp as its auth stack: the user confirms sudo with a code instead of a password.
sudo_as() { # sudo_as USER CODE: `sudo -k -S id -un` as USER, the code answering the PAM prompt on stdin
    OUT=$(printf '%s\n' "$2" | timeout 20 runuser -u "$1" -- sudo -k -S id -un 2>"$T/sudo.err")
    RC=$?
}
s_sudo_with_totp() {
    enroll "$U" -d -u || { why "enroll failed"; return 1; }
    printf '%s\n' "auth required $TOTP_MODULE" '@include common-account' '@include common-session-noninteractive' \
        >/etc/pam.d/sudo
    echo "$U ALL=(ALL) ALL" >/etc/sudoers.d/e2e && chmod 440 /etc/sudoers.d/e2e
    local c; c=$(code "$U")
    sudo_as "$U" "$c"
    [ "$RC" = 0 ] && [ "$OUT" = root ] || { why "sudo with the right code failed (rc=$RC): $OUT $(head -c 300 "$T/sudo.err")"; return 1; }
    grep -q 'Verification code' "$T/sudo.err" || { why "sudo did not show pam_totp's prompt: $(head -c 300 "$T/sudo.err")"; return 1; }
    log_has sys "$(mod_ok_re "$U")" || { why "no module success line for sudo"; return 1; }
    sudo_as "$U" "$c"
    [ "$RC" != 0 ] && [ "$OUT" != root ] || { why "sudo accepted a replayed code"; return 1; }
    sudo_as "$U" "$(wrong_code "$U")"
    [ "$RC" != 0 ] || { why "sudo accepted a wrong code"; return 1; }
}

# The documented fail2ban filter (docs/fail2ban/pam_totp.conf), run with fail2ban-regex over every line the
# module logged during the scenarios above (converted from raw syslog datagrams to auth.log lines): each
# refusal with a remote host matches, no success line does.
s_fail2ban_filter() {
    local repo filter dir log refused matched
    repo=$(cd "$HERE/../.." && pwd)
    filter=${E2E_FAIL2BAN_FILTER:-$repo/docs/fail2ban/pam_totp.conf}
    [ -f "$filter" ] || { why "no filter at $filter"; return 1; }
    command -v fail2ban-regex >/dev/null || { why "fail2ban-regex missing (package fail2ban)"; return 1; }
    dir=$T/fail2ban; mkdir -p "$dir/filter.d"
    cp /etc/fail2ban/filter.d/common.conf "$filter" "$dir/filter.d/" || { why "fail2ban's common.conf missing"; return 1; }
    log=$dir/auth.log
    sed -nE 's/^<[0-9]+>([A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8}) (.*pam_totp\(.*)$/\1 e2ehost \2/p' "$SYSLOG" >"$log"
    refused=$(grep -cE 'pam_totp\([^)]*\): refused user=[^ ]* rhost=[0-9a-fA-F.:]+ ' "$log")
    [ "$refused" -gt 0 ] && grep -q 'pam_totp([^)]*): accepted' "$log" || { why "the scenarios left no refused/accepted lines to test ($refused)"; return 1; }
    matched=$(fail2ban-regex "$log" "$dir/filter.d/$(basename "$filter")" 2>&1 | sed -nE 's/^Lines: .* ([0-9]+) matched.*/\1/p')
    [ "$matched" = "$refused" ] || { why "fail2ban-regex matched ${matched:-?} lines, expected the $refused refusals with a remote host"; return 1; }
    echo "# fail2ban-regex: $matched of $(wc -l <"$log") pam_totp lines matched (the refusals with a remote host)"
}

# ------------------------------------------------------------------ attacks on pam_totp (issue 17)
probe() { timeout 150 "$PY" "$HERE/ssh-probe.py" "$@" 2>"$T/probe.err"; }
# rl_stamps: how many RATE_LIMIT timestamps the enrolled user's file holds.
rl_stamps() { sed -nE 's/^" RATE_LIMIT [0-9]+ [0-9]+//p' "$(secret_file "$U")" | wc -w; }
# sys_count REGEX: lines of the syslog sink since the mark that match (after the sink has caught up).
sys_count() { sleep 0.5; since "$SYSLOG" "$SYS_MARK" | grep -cE -- "$1"; }
# 8 logins started 1.1 s apart wait at the code prompt, then answer a wrong code newest first. Each answer is
# judged and recorded at the time it is checked, so RATE_LIMIT 3 60 refuses every answer after the third.
# (When the time was read as the login started, each answer dropped the newer attempts as "future".)
s_held_newest_first() {
    enroll "$U" -D -r 3 -R 60 || { why "enrolment failed"; return 1; }
    local out n
    out=$(probe hold --port "$PORT" --user "$U" --key "$T/client_key" --guess "$(wrong_code "$U")" -n 8 --stagger 1.1)
    [ "$out" = "refused=8 of 8" ] || { why "hold: '$out' $(head -c 300 "$T/probe.err")"; return 1; }
    n=$(sys_count "refused user=$U rhost=127\.0\.0\.1 reason=rate-limited")
    echo "# held-logins-newest-first: $n of 8 answers refused as rate-limited, $(rl_stamps) attempts recorded"
    [ "$n" -ge 5 ] || { why "only $n of 8 held answers were rate-limited (RATE_LIMIT 3 60: at least 5)"; return 1; }
    [ "$(rl_stamps)" = 3 ] || { why "RATE_LIMIT holds $(rl_stamps) timestamps, expected 3"; return 1; }
}
# try_first_pass: the password prompt's answer is a code guess; the client leaves at the code prompt that
# follows. Each guess must be recorded (RATE_LIMIT) and logged before that prompt.
s_first_pass_leave() {
    enroll "$U" -D -r 10 -R 60 || { why "enrolment failed"; return 1; }
    printf '%s\n' 'auth     optional pam_unix.so' "auth     required $TOTP_MODULE try_first_pass" \
        'account  required pam_unix.so' 'session  required pam_permit.so' >/etc/pam.d/sshd
    local out n
    out=$(probe leave --port "$PORT" --user "$U" --key "$T/client_key" --guess "$(wrong_code "$U")" -n 5)
    [ "$out" = "left=5 of 5" ] || { why "leave: '$out' $(head -c 300 "$T/probe.err")"; return 1; }
    n=$(sys_count "refused user=$U rhost=127\.0\.0\.1 reason=wrong-code pass=first$")
    echo "# first-pass-guess-recorded: $n of 5 first-pass guesses logged, $(rl_stamps) recorded in RATE_LIMIT"
    [ "$n" = 5 ] || { why "$n of 5 first-pass guesses logged"; return 1; }
    [ "$(rl_stamps)" = 5 ] || { why "RATE_LIMIT holds $(rl_stamps) timestamps, expected 5"; return 1; }
}
# A user name that carries log fields, through a second sshd that offers keyboard-interactive alone (with the
# publickey-first sshd an unknown user never reaches PAM), then the shipped fail2ban filter over what the
# module logged: it must find 127.0.0.1 and never the address in the name.
s_hostile_name_fail2ban() {
    local port2=$((PORT + 1)) pid dir log hosts out i
    command -v fail2ban-regex >/dev/null || { why "fail2ban-regex missing (package fail2ban)"; return 1; }
    sed -e "s/^Port .*/Port $port2/" -e '/^AllowUsers/d' -e "s|^PidFile .*|PidFile $T/sshd2.pid|" \
        -e 's/^AuthenticationMethods .*/AuthenticationMethods keyboard-interactive/' "$T/sshd_config" >"$T/sshd_config2"
    /usr/sbin/sshd -D -f "$T/sshd_config2" -E "$T/sshd2.log" &
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port2") 2>/dev/null && break; sleep 0.05; done
    for i in 1 2 3; do
        out=$(probe name --port "$port2" --user "x rhost=198.51.100.77 reason=wrong-code" --guess 000000)
        [ "$out" = refused ] || break
    done
    kill "$pid"; wait "$pid" 2>/dev/null
    [ "$out" = refused ] || { why "hostile-name login: '$out' $(head -c 300 "$T/probe.err")"; return 1; }
    dir=$T/fail2ban-hostile; mkdir -p "$dir/filter.d"
    # The shipped filter, as s_fail2ban_filter uses it (the repository's, or the installed package's).
    cp /etc/fail2ban/filter.d/common.conf "${E2E_FAIL2BAN_FILTER:-$(cd "$HERE/../.." && pwd)/docs/fail2ban/pam_totp.conf}" \
        "$dir/filter.d/" || { why "filter files missing"; return 1; }
    log=$dir/auth.log
    sleep 0.5
    since "$SYSLOG" "$SYS_MARK" \
        | sed -nE 's/^<[0-9]+>([A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8}) (.*pam_totp\(.*)$/\1 e2ehost \2/p' >"$log"
    grep -q 'refused user=x%20rhost%3D198.51.100.77%20reason%3Dwrong-code rhost=127.0.0.1 reason=unknown-user$' "$log" \
        || { why "no escaped refusal line for the hostile name: $(head -c 300 "$log")"; return 1; }
    hosts=$(fail2ban-regex -o ip "$log" "$dir/filter.d/pam_totp.conf" 2>&1 | sort | uniq -c | tr -s ' ')
    echo "# hostile-user-name-fail2ban: fail2ban-regex found:$hosts"
    [ "$hosts" = " 3 127.0.0.1" ] || { why "fail2ban-regex found '$hosts', expected 127.0.0.1 three times"; return 1; }
}

# ------------------------------------------------------------------ set-up
SSHD_PID=
SINK_PID=
cleanup() {
    [ -z "$SSHD_PID" ] || kill "$SSHD_PID" 2>/dev/null
    [ -z "$SINK_PID" ] || kill "$SINK_PID" 2>/dev/null
    wait 2>/dev/null
}
trap cleanup EXIT
if [ ! -S /dev/log ]; then    # a container without a syslog daemon: be the listener ourselves
    touch "$SYSLOG"
    "$PY" "$HERE/syslog-sink.py" /dev/log "$SYSLOG" &
    SINK_PID=$!
    for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
    [ -S /dev/log ] || { echo "scenarios.sh: could not start the /dev/log listener" >&2; exit 2; }
fi

# A module built by cargo is named lib<name>.so; pam_syslog prefixes lines with the module's file name, so
# copy it under its installed name: logs then read exactly as on a packaged system (pam_totp(sshd:auth): ...).
mkdir -p -m 0755 "$T/modules"
for var in TOTP_MODULE PWPOLICY_MODULE; do
    m=${!var}
    case "$(basename "$m")" in
        lib*.so) n=$(basename "$m"); cp "$m" "$T/modules/${n#lib}"; printf -v "$var" '%s' "$T/modules/${n#lib}" ;;
    esac
done
GUIDE_AUTH="auth [success=done new_authtok_reqd=done default=die] $TOTP_MODULE nullok"
GUIDE_PASSWORD="password requisite $PWPOLICY_MODULE retry=3 minlen=10 difok=3 ucredit=-1 lcredit=-2 dcredit=-1 ocredit=-1"
mkdir -p -m 0755 /run/sshd "$T/home"
chmod 755 "$T" "$T/home"
cp /etc/pam.d/sshd "$T/pam.sshd.stock"
cp /etc/pam.d/common-password "$T/pam.common-password.stock"
for u in "$U" "$UN" "$UP"; do
    useradd -m -d "$T/home/$u" -s /bin/bash "$u" || { echo "scenarios.sh: useradd $u failed" >&2; exit 2; }
done
ssh-keygen -q -t ed25519 -N '' -C "$P" -f "$T/client_key"
for u in "$U" "$UN"; do
    install -d -m 700 -o "$u" -g "$u" "$T/home/$u/.ssh"
    install -m 600 -o "$u" -g "$u" "$T/client_key.pub" "$T/home/$u/.ssh/authorized_keys"
done
cat >"$T/next-module.sh" <<'EOF'
#!/bin/sh
echo "$PAM_USER $PAM_SERVICE $PAM_TYPE" >>"$(dirname "$0")/next-module.log"
EOF
chmod 755 "$T/next-module.sh"

mkdir -p "$T/hostkeys"
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkeys/ssh_host_ed25519_key"
cat >"$T/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $T/hostkeys/ssh_host_ed25519_key
PidFile $T/sshd.pid
UsePAM yes
PubkeyAuthentication yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
AuthenticationMethods publickey,keyboard-interactive
AuthorizedKeysFile .ssh/authorized_keys
PermitRootLogin no
AllowUsers $U $UN
UseDNS no
LogLevel VERBOSE
MaxStartups 64:30:128
EOF
: >"$SSHD_LOG"; touch "$SYSLOG"
/usr/sbin/sshd -t -f "$T/sshd_config" || { echo "scenarios.sh: sshd -t failed" >&2; exit 2; }
# Absolute path: sshd re-execs itself per connection; its PAM service is basename(argv[0]) = sshd.
/usr/sbin/sshd -D -f "$T/sshd_config" -E "$SSHD_LOG" &
SSHD_PID=$!
up=0
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && { up=1; break; }; sleep 0.05; done
[ "$up" = 1 ] || { echo "scenarios.sh: sshd did not come up:" >&2; cat "$SSHD_LOG" >&2; exit 2; }

# ------------------------------------------------------------------ the README demo (E2E_DEMO=1)
# The same sandbox, narrated: enroll a user (QR code and scratch codes shown), log in over ssh with key +
# a computed code, see the replay refused, then change a password through pam_pwpolicy + pam_unix.
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '   %s\n' "$@"; }
demo_step() { # demo_step NAME COMMAND...: counts like a scenario
    if "${@:2}"; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); echo "FAIL demo step $1"; fi
}
demo_enroll() {
    local home f; home=$(getent passwd "$U" | cut -d: -f6); f=$home/.google_authenticator
    rm -f "$f"
    if [ "$TOTP_ENROLL" != google-authenticator ]; then
        show "\$ totp-enroll -t -d -u -w 3 -f -C -e 5 -Q UTF8 -l '$U@sandbox' -i Demo   (run as $U)"
        runuser -u "$U" -- "$TOTP_ENROLL" -t -d -u -w 3 -f -C -e 5 -Q UTF8 -l "$U@sandbox" -i Demo -s "$f"
    else
        show "\$ google-authenticator -t -d -u -f -C -e 5 -Q UTF8 -l '$U@sandbox' -i Demo   (run as $U; totp-enroll not built)"
        runuser -u "$U" -- google-authenticator -t -d -u -w 3 -f -C -e 5 -Q UTF8 -l "$U@sandbox" -i Demo -s "$f"
    fi
    [ -s "$f" ]
}
demo() {
    say "The sandbox: a private /etc, /run and network namespace; sshd $(/usr/sbin/sshd -V 2>&1 | head -c 40) on 127.0.0.1:$PORT"
    show "sshd_config: UsePAM yes, KbdInteractiveAuthentication yes, AuthenticationMethods publickey,keyboard-interactive"
    printf '%s\n' "$GUIDE_AUTH" 'account required pam_unix.so' 'session required pam_permit.so' >/etc/pam.d/sshd
    show "/etc/pam.d/sshd:" && sed 's/^/      /' /etc/pam.d/sshd

    say "1. $U enrolls: QR code for the phone, scratch codes for emergencies"
    demo_step enroll demo_enroll

    say "2. $U logs in with key + the current code (computed here with oathtool, as the phone would)"
    local c; c=$(code "$U")
    show "\$ ssh $U@127.0.0.1 'echo hello from \$(id -un)'    # answers 'Verification code:' with $c"
    mark; login "$U" "$c" 'echo hello from $(id -un)'
    show "-> $OUT"
    demo_step login [ "$RC" = 0 ]
    show "module log: $(since "$SYSLOG" "$SYS_MARK" | grep -Eo 'pam_totp\([^)]*\): .*' | tail -n1)"

    say "3. An attacker replays the same code (DISALLOW_REUSE): refused"
    mark; login "$U" "$c" true
    show "-> ssh exit status $RC (refused)"
    demo_step replay [ "$RC" != 0 ]
    show "module log: $(since "$SYSLOG" "$SYS_MARK" | grep -Eo 'pam_totp\([^)]*\): .*' | tail -n1)"

    say "4. $UP changes a password through the guide's line (pam_pwpolicy, then pam_unix)"
    set_initial_password
    write_common_password
    show "/etc/pam.d/common-password:" && sed 's/^/      /' /etc/pam.d/common-password
    show "\$ passwd   # as $UP, new password: '$PW_WEAK'"
    local tr h0; h0=$(shadow_hash "$UP")
    tr=$(expect "$HERE/chpw.exp" "$UP" "$PW0" "$PW_WEAK" 2>&1)
    grep -E 'BAD PASSWORD|[Gg]uid|[Tt]ry|passwd:' <<<"$tr" | tr -d '\r' | sort -u | sed 's/^/      /'
    demo_step weak-refused [ "$(shadow_hash "$UP")" = "$h0" ]
    show "\$ passwd   # as $UP, new password: '$PW_STRONG'"
    tr=$(expect "$HERE/chpw.exp" "$UP" "$PW0" "$PW_STRONG" 2>&1)
    grep -E 'passwd:' <<<"$tr" | tr -d '\r' | sed 's/^/      /'
    demo_step strong-accepted [ "$(shadow_hash "$UP")" != "$h0" ]
    say "Done: the sandbox (users, sshd, /etc copy) disappears with the namespace."
}

echo "# TOTP_MODULE=$TOTP_MODULE"
echo "# PWPOLICY_MODULE=$PWPOLICY_MODULE"
if [ "${E2E_DEMO:-0}" = 1 ]; then
    demo
    [ -z "${E2E_RESULTS:-}" ] || echo "$PASSED $FAILED" >"$E2E_RESULTS"
    [ "${E2E_SUMMARY:-1}" = 0 ] || echo "demo: $PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit
fi
scenario right-code-logs-in s_right_code
scenario wrong-code-refused s_wrong_code
scenario key-alone-refused s_key_alone
scenario replayed-code-refused s_replayed_code
scenario scratch-code-once s_scratch_once
scenario nullok-no-file-next-module s_nullok_next_module
scenario unenrolled-no-nullok-refused s_unenrolled_refused
scenario rate-limit-hit-then-recovered s_rate_limit
scenario parallel-16-reuse-allowed s_parallel_reuse
scenario parallel-16-same-code-exactly-one s_parallel_one_time
scenario hotp-counter s_hotp
scenario grace-period s_grace_period
scenario debian-stock-sshd-stack s_debian_stock_stack
scenario passwd-weak-refused s_passwd_weak_refused
scenario passwd-strong-accepted s_passwd_strong_accepted
scenario sudo-with-totp s_sudo_with_totp
case "$(basename "$TOTP_MODULE")" in   # pam_totp's own guarantees and log format (issue 17)
    pam_totp.so)
        scenario held-logins-newest-first-rate-limited s_held_newest_first
        scenario first-pass-guess-recorded-when-client-leaves s_first_pass_leave
        scenario hostile-user-name-fail2ban s_hostile_name_fail2ban
        scenario fail2ban-filter-matches-refusals s_fail2ban_filter
        scenario state-file-read-only-secret s_state_read_only_secret ;;
esac
case "$(basename "$PWPOLICY_MODULE")" in   # pam_pwpolicy's own messages (issue 19)
    *pwpolicy*) scenario passwd-refusal-names-both-problems s_passwd_refusal_names_both ;;
esac

[ -z "${E2E_RESULTS:-}" ] || echo "$PASSED $FAILED" >"$E2E_RESULTS"
[ "${E2E_SUMMARY:-1}" = 0 ] || echo "e2e: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
