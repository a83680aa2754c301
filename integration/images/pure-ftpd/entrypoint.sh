#!/bin/sh
# usage: artifacts-it-pure-ftpd <pure-ftpd arguments>; FTP_DIR (passwd + PureDB), FTP_HOME and
# FTP_PASSWORD come from the environment (never a command line). A passwd file the launcher wrote is
# used as it is; otherwise pure-pw writes one.
set -eu
mkdir -p "$FTP_HOME/root"
chown it-ftp:it-ftp "$FTP_HOME" "$FTP_HOME/root"
if [ ! -s "$FTP_DIR/pureftpd.passwd" ]; then
  printf '%s\n%s\n' "$FTP_PASSWORD" "$FTP_PASSWORD" |
    pure-pw useradd it-ftp -u 2003 -g 2003 -d "$FTP_HOME" -f "$FTP_DIR/pureftpd.passwd" >/dev/null
fi
unset FTP_PASSWORD
pure-pw mkdb "$FTP_DIR/pureftpd.pdb" -f "$FTP_DIR/pureftpd.passwd"
exec /usr/sbin/pure-ftpd "$@"
