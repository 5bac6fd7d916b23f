#!/usr/bin/env sh
# Dump the PostgreSQL database of CLO_DATABASE_URL (or the URL given) to FILE, in pg_dump's
# custom format (compressed; pg_restore can restore it whole or in part).
#
#   infra/deploy/backup.sh FILE [DATABASE_URL]
#
# A consistent snapshot of one moment (pg_dump reads in one repeatable-read transaction),
# taken while the service runs. Keep dumps off the database machine, and try a restore now
# and then: infra/deploy/restore.sh does one and checks the ledger.
set -eu
file="${1:?usage: $0 FILE [DATABASE_URL]}"
url="${2:-${CLO_DATABASE_URL:?CLO_DATABASE_URL is not set}}"
# libpq takes postgresql://...; SQLAlchemy's driver suffix (postgresql+psycopg://) is dropped.
url=$(printf '%s' "$url" | sed -E 's|^postgres(ql)?\+[a-z0-9]+://|postgresql://|')
case "$url" in
  postgresql://*|postgres://*) ;;
  *) echo "backup.sh: not a PostgreSQL URL (SQLite: copy the file with sqlite3 .backup)" >&2; exit 2 ;;
esac
pg_dump --format=custom --no-owner --no-privileges --file="$file" --dbname="$url"
echo "backup.sh: wrote $file ($(wc -c < "$file") bytes)"
