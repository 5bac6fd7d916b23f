#!/usr/bin/env sh
# The processes of a production deployment, each in the foreground (for systemd, a Procfile
# runner or a container): run `migrate` once per release, then `api` and `scheduler`.
#
#   infra/deploy/start.sh migrate     apply database migrations (clo db upgrade)
#   infra/deploy/start.sh api         the API: gunicorn with CLO_API_WORKERS uvicorn workers
#   infra/deploy/start.sh scheduler   maturation, settlement, ledger check (one process only)
#
# Environment: the CLO_ settings (README, "Environment"), and PROMETHEUS_MULTIPROC_DIR, a
# directory every process of this host shares so /metrics sums the workers' values
# (default /tmp/clo-metrics; the API empties it when it starts).
set -eu
cd "$(dirname "$0")/../.."
BIN="${CLO_BIN:-.venv/bin}"
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/clo-metrics}"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

case "${1:-}" in
  migrate) exec "$BIN/clo" db upgrade ;;
  api) exec "$BIN/gunicorn" --config infra/deploy/gunicorn.conf.py service.asgi:app ;;
  scheduler) exec "$BIN/clo" scheduler ;;
  *) echo "usage: $0 migrate|api|scheduler" >&2; exit 2 ;;
esac
