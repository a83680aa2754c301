#!/bin/sh
# usage: artifacts-it-sshd <sshd_config>; SSHD_DIR (keys), KEY_HOME, PASS_HOME (data directories),
# CLIENT_UID/CLIENT_GID (who runs the tests), IT_PASS_PASSWORD and IT_KEY_PASSPHRASE come from the
# environment (never a command line).
set -eu
printf 'it-pass:%s\n' "$IT_PASS_PASSWORD" | chpasswd
if [ ! -f "$SSHD_DIR/ssh_host_ed25519_key" ]; then
  ssh-keygen -q -t ed25519 -N '' -C 'artifacts-it host' -f "$SSHD_DIR/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C 'artifacts-it it-key' -f "$SSHD_DIR/id_ed25519"
  ssh-keygen -q -t rsa -b 3072 -N "$IT_KEY_PASSPHRASE" -C 'artifacts-it it-key (passphrase)' -f "$SSHD_DIR/id_rsa_passphrase"
  mkdir -p "$SSHD_DIR/authorized_keys"
  cat "$SSHD_DIR/id_ed25519.pub" "$SSHD_DIR/id_rsa_passphrase.pub" > "$SSHD_DIR/authorized_keys/it-key"
  # the client keys belong to the user running the tests (ssh-add refuses a key others can read)
  chown "$CLIENT_UID:$CLIENT_GID" "$SSHD_DIR/id_ed25519" "$SSHD_DIR/id_rsa_passphrase"
fi
unset IT_PASS_PASSWORD IT_KEY_PASSPHRASE
mkdir -p "$KEY_HOME/root" "$PASS_HOME"
chown it-key:it-key "$KEY_HOME" "$KEY_HOME/root"
chown it-pass:it-pass "$PASS_HOME"
/usr/sbin/sshd -t -f "$1"
exec /usr/sbin/sshd -D -e -f "$1"
