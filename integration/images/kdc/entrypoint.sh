#!/bin/sh
# usage: artifacts-it-kdc <realm> <dir> <group>=<principal>[,<principal>…]…
# KRB5_CONFIG and KRB5_KDC_PROFILE name the configuration the launcher wrote. Unless a previous
# start did: creates the realm's database in <dir> (a random, stashed master password) and exports
# each group's principals to <dir>/<group>.keytab, owned by KEYTAB_UID:KEYTAB_GID (who runs the
# tests). Then runs krb5kdc in the foreground.
set -eu
realm=$1
dir=$2
shift 2
if [ ! -f "$dir/principal" ]; then
  kdb5_util create -s -r "$realm" -P "$(head -c 18 /dev/urandom | base64)" -W
  for spec in "$@"; do
    group=${spec%%=*}
    names=$(printf '%s' "${spec#*=}" | tr ',' ' ')
    for name in $names; do kadmin.local -q "addprinc -randkey $name" >/dev/null; done
    # shellcheck disable=SC2086 # one argument per principal
    kadmin.local -q "ktadd -k $dir/$group.keytab $names" >/dev/null
    chown "${KEYTAB_UID:-0}:${KEYTAB_GID:-0}" "$dir/$group.keytab"
  done
fi
exec /usr/sbin/krb5kdc -n -P "$dir/krb5kdc.pid"
