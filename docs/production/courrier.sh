#!/bin/sh
# /usr/local/bin/courrier: `courrier` typed by hand, as the services run it — the service
# account, the service's environment. install -m 0755 docs/production/courrier.sh /usr/local/bin/courrier
set -eu
set -a
. /etc/courrier/courrier.env
set +a
cd /var/lib/courrier
if [ "$(id -u)" -eq 0 ]; then
    exec runuser -u courrier -- /srv/courrier/.venv/bin/courrier "$@"
fi
exec /srv/courrier/.venv/bin/courrier "$@"
