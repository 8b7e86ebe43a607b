# shellcheck shell=bash
# The set-up shared by tests/demo, tests/run-all and .ci/run (sourced, never run): on a fresh Debian 12
# machine with a rustup toolchain it installs what the tests need and finds cargo, so that the README's two
# commands work as written. It owns the list of cargo tools and their pinned versions; the Debian packages
# are listed in .ci/apt-packages. It must not build or test anything itself.
#
#   setup_all        find cargo, then install the missing Debian packages and cargo tools (said once first)
#   as_builder CMD   run CMD as the user who typed `sudo` when their toolchain is used, else as is
#
# Under sudo, `secure_path` drops ~/.cargo/bin: cargo is looked for on PATH, in $CARGO_HOME/bin, in the
# invoking user's ~/.cargo/bin (SUDO_USER) and in root's. Builds then run as that user, and whatever a root
# tier leaves in the checkout is handed back to them at exit, so target/ is never left owned by root.

# cargo tools the tiers need: "crate version" pairs (the fuzz tier needs cargo-fuzz).
SETUP_CARGO_TOOLS=("cargo-fuzz 0.13.2")

setup_say() { echo "setup: $*" >&2; }
setup_die() { echo "setup: error: $*" >&2; exit 2; }

# The packages of a package list (default .ci/apt-packages) that dpkg does not report installed, one a line.
missing_packages() {
    local list=${1:-.ci/apt-packages} pkg status
    [ -r "$list" ] || setup_die "cannot read the package list $list"
    while read -r pkg _; do
        case $pkg in '' | '#'*) continue ;; esac
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) || status=
        [ "$status" = installed ] || echo "$pkg"
    done <"$list"
}

# The home directory of a user from the passwd database (empty when unknown).
user_home() { getent passwd "$1" | cut -d: -f6; }

# Finds cargo and puts its directory first on PATH. Sets BUILD_USER when the toolchain found is the
# invoking user's (run through sudo by someone else than root): builds then run as that user.
find_cargo() {
    BUILD_USER=
    local dir home= candidates=()
    if command -v cargo >/dev/null 2>&1; then
        return 0
    fi
    [ -n "${CARGO_HOME:-}" ] && candidates+=("$CARGO_HOME/bin")
    if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
        home=$(user_home "$SUDO_USER")
        [ -n "$home" ] && candidates+=("$home/.cargo/bin")
    fi
    [ -n "${HOME:-}" ] && candidates+=("$HOME/.cargo/bin")
    candidates+=("$(user_home root)/.cargo/bin")
    for dir in "${candidates[@]}"; do
        [ -x "$dir/cargo" ] || continue
        PATH="$dir:$PATH"
        export PATH
        if [ -n "$home" ] && [ "$dir" = "$home/.cargo/bin" ]; then
            BUILD_USER=$SUDO_USER
            export RUSTUP_HOME=${RUSTUP_HOME:-$home/.rustup} CARGO_HOME=${CARGO_HOME:-$home/.cargo}
        fi
        setup_say "using cargo from $dir${BUILD_USER:+ (builds run as $BUILD_USER)}"
        return 0
    done
    setup_die "no Rust toolchain: cargo is not on PATH nor in ~/.cargo/bin${SUDO_USER:+ of $SUDO_USER} or root's;" \
        "install it with rustup (https://rustup.rs), then run this command again"
}

# Runs a command as BUILD_USER (keeping the toolchain's environment) when set, else as is.
as_builder() {
    if [ -z "${BUILD_USER:-}" ]; then
        "$@"
        return
    fi
    runuser -u "$BUILD_USER" -- env PATH="$PATH" HOME="$(user_home "$BUILD_USER")" \
        RUSTUP_HOME="$RUSTUP_HOME" CARGO_HOME="$CARGO_HOME" "$@"
}

# Gives back to the invoking user what root created in the checkout (target/, fuzz/target, ...) and in
# their CARGO_HOME, when the checkout is theirs.
hand_back_to_invoker() {
    [ -n "${SUDO_UID:-}" ] && [ "$SUDO_UID" != 0 ] || return 0
    local top dir
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    [ "$(stat -c %u "$top")" = "$SUDO_UID" ] || return 0
    for dir in "$top" ${BUILD_USER:+"$CARGO_HOME"}; do
        find "$dir" -xdev -user 0 -print0 2>/dev/null | xargs -0 -r chown -h "$SUDO_UID:${SUDO_GID:-$SUDO_UID}"
    done
}

# The cargo tools of SETUP_CARGO_TOOLS that are not installed at the pinned version ("crate version" lines).
missing_cargo_tools() {
    local tool crate version
    for tool in "${SETUP_CARGO_TOOLS[@]}"; do
        read -r crate version <<<"$tool"
        as_builder cargo "${crate#cargo-}" --version 2>/dev/null | grep -qF "$version" || echo "$crate $version"
    done
}

# Stops with one sentence when this is not Debian (the packages must then be installed by hand).
check_debian() {
    local list=$1
    command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && return 0
    setup_die "this is not Debian: install by hand the equivalents of: $(missing_packages_all "$list")"
}

missing_packages_all() { grep -v '^[[:space:]]*#' "$1" | awk 'NF {printf "%s ", $1}'; }

setup_all() {
    local top list pkgs=() tools=() line crate version
    top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    list="$top/.ci/apt-packages"
    trap hand_back_to_invoker EXIT
    find_cargo
    check_debian "$list"
    grep -qs '^VERSION_ID="12"' /etc/os-release || setup_say "warning: tested on Debian 12 only"
    mapfile -t pkgs < <(missing_packages "$list")
    mapfile -t tools < <(missing_cargo_tools)
    [ ${#pkgs[@]} -eq 0 ] && [ ${#tools[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || setup_die "missing ${pkgs[*]} ${tools[*]}: run as root (sudo) to install them"
    setup_say "installing${pkgs[0]:+ ${#pkgs[@]} Debian packages: ${pkgs[*]};}${tools[0]:+ cargo tools: ${tools[*]}}"
    if [ ${#pkgs[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || setup_die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -o DPkg::Lock::Timeout=300 "${pkgs[@]}" >/dev/null || setup_die "apt-get install failed"
    fi
    for line in "${tools[@]}"; do
        read -r crate version <<<"$line"
        as_builder cargo install --quiet --locked "$crate" --version "$version" \
            || setup_die "cargo install $crate $version failed"
    done
}
