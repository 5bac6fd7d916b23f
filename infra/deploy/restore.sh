#!/usr/bin/env sh
# Restore a dump made by backup.sh into an EMPTY PostgreSQL database, then check the ledger
# there (`clo ledger check`: cached balances equal the postings, every entry sums to zero).
#
#   createdb clo_restored
#   infra/deploy/restore.sh FILE postgresql://.../clo_restored
#
# One transaction: a restore that fails leaves the database empty. Exits non-zero when the
# restore fails or the restored ledger does not balance.
set -eu
cd "$(dirname "$0")/../.."
file="${1:?usage: $0 FILE DATABASE_URL}"
target="${2:?usage: $0 FILE DATABASE_URL}"
BIN="${CLO_BIN:-.venv/bin}"
url=$(printf '%s' "$target" | sed -E 's|^postgres(ql)?\+[a-z0-9]+://|postgresql://|')
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$file"
echo "restore.sh: restored $file"
exec "$BIN/clo" ledger check --database "$target"
