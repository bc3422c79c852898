# Sourced by .ci/test and .ci/redis.sh. `need PROGRAM PACKAGE WHY` makes sure
# PROGRAM is a file on PATH (not a shell builtin: tests spawn `kill` as a
# process): it installs Debian's PACKAGE with apt-get (as root, or through
# sudo) when it is missing, and otherwise stops the calling script naming
# what to install. A test that needs a program fails without it rather than
# being skipped, so it is installed here or nothing runs.

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

apt_updated=
apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq || return 1
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need() {
    local program=$1 package=$2 why=$3
    type -P "$program" >/dev/null && return 0
    echo "$program: not on PATH; installing Debian's $package with apt-get ($why)"
    if apt_install "$package" && type -P "$program" >/dev/null; then
        echo "$program: installed"
        return 0
    fi
    echo "!! $program is missing and could not be installed here: $why." >&2
    echo "!! Install it so that \`$program\` is on PATH (Debian: apt-get install $package), then run this again." >&2
    exit 1
}
