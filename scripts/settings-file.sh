# Sourced by stack.sh and cluster.sh: load_settings FILE assigns each NAME=value line of FILE
# (the ports a stack or cluster was first made with) unless the caller already set NAME.
load_settings() {
    [ -f "$1" ] || return 0
    local name value
    while IFS='=' read -r name value; do
        if [ -n "$name" ] && [ -z "${!name:-}" ]; then printf -v "$name" '%s' "$value"; fi
    done <"$1"
}
