#!/bin/sh
# `make litmus`: the litmus WebDAV suite (Debian's `litmus` package) against a fresh server on a free
# loopback port, with a new SQLite database, user and token; prints litmus' report and its summary.
set -eu
BIN=${BIN:-.venv/bin}
command -v litmus >/dev/null || { echo "litmus is not installed (apt-get install litmus)" >&2; exit 2; }
DIR=$(mktemp -d)
PORT=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export CALEDEE_DATABASE_URL="sqlite:///$DIR/caledee.db" CALEDEE_CONFIG="$DIR/absent.toml" \
    CALEDEE_HOST=127.0.0.1 CALEDEE_PORT="$PORT" CALEDEE_WORKERS=1 CALEDEE_LOG_LEVEL=warning
"$BIN/caledee" init >/dev/null
"$BIN/caledee" user create --email litmus@example.com --slug litmus >/dev/null
TOKEN=$("$BIN/caledee" token create --user litmus --name litmus --scope caldav 2>/dev/null)
"$BIN/caledee" serve >"$DIR/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DIR"' EXIT
URL="http://127.0.0.1:$PORT/dav/litmus/litmus/"
# Wait for the server (at most 30 s), then make the folder litmus works in.
"$BIN/python" - "$URL" "$TOKEN" <<'PY'
import sys, time, requests
url, token = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 30
while True:
    try:
        requests.get(url.split("/dav/")[0] + "/health", timeout=1).raise_for_status()
        break
    except requests.RequestException:
        if time.monotonic() > deadline:
            sys.exit("the server did not start")
        time.sleep(0.1)
made = requests.request("MKCOL", url, auth=("litmus", token), timeout=10)
sys.exit(0 if made.status_code == 201 else f"MKCOL {url}: {made.status_code} {made.text}")
PY
STATUS=0
# In $DIR: litmus writes its debug.log and child.log into the working directory.
(cd "$DIR" && litmus "$URL" litmus "$TOKEN") >"$DIR/litmus.log" 2>&1 || STATUS=$?
cat "$DIR/litmus.log"
echo
echo "Summary ($URL):"
grep "summary for" "$DIR/litmus.log"
exit $STATUS
