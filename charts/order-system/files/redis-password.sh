# Included at the top of the chart's Redis, readiness-probe and reconciler scripts (POSIX sh: the
# Redis image's dash, or busybox). The Secret holds the Redis password in its URL form,
# percent-encoded, because the Spin apps put it into a redis:// address as it is (README,
# Configuration); redis-server and redis-cli need the password itself. This decodes
# $REDIS_PASSWORD into REDISCLI_AUTH (which redis-cli reads), and stops the script if a `%` does
# not start a %XX escape.
url_decode() {
  rest=$1
  while [ -n "$rest" ]; do
    case $rest in
      %[0-9A-Fa-f][0-9A-Fa-f]*)
        hex=${rest#%}
        hex=${hex%"${hex#??}"}
        # dash's printf has no \x: the byte as an octal escape.
        printf '%b' "\\0$(printf %o "0x$hex")"
        rest=${rest#%??}
        ;;
      %*)
        echo "the Redis password in the Secret is not percent-encoded: a % must start a %XX escape (% itself is %25)" >&2
        return 1
        ;;
      *)
        plain=${rest%%[%]*}
        printf '%s' "$plain"
        rest=${rest#"$plain"}
        ;;
    esac
  done
}
if [ -n "${REDIS_PASSWORD:-}" ]; then
  # The trailing x keeps a decoded trailing newline from being stripped.
  REDISCLI_AUTH=$(url_decode "$REDIS_PASSWORD" && echo x) || exit 1
  export REDISCLI_AUTH="${REDISCLI_AUTH%x}"
fi
