#!/bin/sh
# usage: artifacts-it-pure-ftpd <pure-ftpd arguments>; FTP_DIR (passwd + PureDB), FTP_HOME and
# FTP_PASSWORD come from the environment (never a command line). A passwd file the launcher wrote is
# used as it is; otherwise this writes one whose hash is SHA-512 crypt (glibc crypt(3), which
# pure-ftpd checks in microseconds): pure-pw's default memory-hard hash cost about 5 s of CPU on every
# login, which a test suite logging in thousands of times cannot pay.
set -eu
mkdir -p "$FTP_HOME/root"
chown it-ftp:it-ftp "$FTP_HOME" "$FTP_HOME/root"
if [ ! -s "$FTP_DIR/pureftpd.passwd" ]; then
  hash=$(perl -e 'my @c = ("a".."z", "A".."Z", 0..9, ".", "/"); my $s = join "", map { $c[rand @c] } 1..16; print crypt($ENV{FTP_PASSWORD}, "\$6\$$s\$")')
  case "$hash" in '$6$'*) ;; *) echo "crypt(3) gave no SHA-512 hash" >&2; exit 1 ;; esac
  # account:hash:uid:gid:gecos:home (/./ = chroot there), then 12 empty fields (limits, quotas, …)
  printf 'it-ftp:%s:2003:2003::%s/./::::::::::::\n' "$hash" "$FTP_HOME" >"$FTP_DIR/pureftpd.passwd"
  chmod 600 "$FTP_DIR/pureftpd.passwd"
fi
unset FTP_PASSWORD
pure-pw mkdb "$FTP_DIR/pureftpd.pdb" -f "$FTP_DIR/pureftpd.passwd"
exec /usr/sbin/pure-ftpd "$@"
