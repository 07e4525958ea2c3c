#!/usr/bin/env bash
# `npm run bench:cli`: wall time of the compiled `airlock` commands (hyperfine), each a fresh
# process as an operator runs it, against a throwaway redis-server. Node's own start is measured
# alongside (`node -e 0`), since it is the floor every command pays.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
npm run build --silent
dir=$(mktemp -d)
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --logfile "$dir/redis.log" --daemonize yes --pidfile "$dir/redis.pid"
trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
cat > "$dir/airlock.config.json" <<JSON
{ "redis": { "url": "redis://127.0.0.1:$port", "prefix": "bench:" },
  "mcpServers": { "databricks": { "command": "node", "args": ["$PWD/dist/examples/databricks-mock/server.js"] } },
  "policy": "$PWD/policies/databricks.json" }
JSON
cfg="--config $dir/airlock.config.json"
hyperfine --warmup 3 --runs "${RUNS:-20}" --ignore-failure --export-markdown "${OUT:-/dev/stdout}" -N \
  'node -e 0' \
  'node dist/src/cli.js --help' \
  "node dist/src/cli.js approvals list $cfg" \
  "node dist/src/cli.js approvals show apr_none $cfg" \
  "node dist/src/cli.js approvals approve apr_none $cfg" \
  "node dist/src/cli.js audit list $cfg" \
  "node dist/src/cli.js limits show $cfg" \
  "node dist/src/cli.js policy check $cfg" \
  "node dist/src/cli.js agents token bench $cfg"
