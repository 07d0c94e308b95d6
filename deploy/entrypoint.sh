#!/bin/sh
# Container entrypoint of every service image: listen on all interfaces unless
# <SERVICE>_HTTP_HOST says otherwise, then run `forecourt-<SERVICE>`, which creates and migrates
# the service's database before it serves.
set -eu
: "${FORECOURT_SERVICE:?set at build time from the SERVICE build argument}"
prefix=$(printf '%s' "$FORECOURT_SERVICE" | tr 'a-z-' 'A-Z_')
host_var="${prefix}_HTTP_HOST"
eval "host=\${${host_var}:-}"
if [ -z "$host" ]; then
    export "${host_var}=0.0.0.0"
fi
exec "forecourt-${FORECOURT_SERVICE}" "$@"
