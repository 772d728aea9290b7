# shellcheck shell=bash
# password_hashing cases; sourced by tests/checks/record_all.sh (uses record, $W).
# Real hashes from mkpasswd (package whois) and openssl passwd, planted into copies of this
# machine's /etc/shadow, /etc/login.defs and /etc/pam.d.

# shadow_with OUT USER=FIELD...: this machine's /etc/shadow with those users' password
# fields replaced (each user must exist); mode and group as the real file.
shadow_with() {
  local out=$1
  shift
  cat /etc/shadow >"$out"
  for pair in "$@"; do
    U=${pair%%=*} H=${pair#*=} awk 'BEGIN { FS = OFS = ":" }
      $1 == ENVIRON["U"] { $2 = ENVIRON["H"]; found = 1 } { print }
      END { if (!found) { print "no user " ENVIRON["U"] > "/dev/stderr"; exit 3 } }' \
      "$out" >"$out.tmp"
    mv "$out.tmp" "$out"
  done
  chown root:shadow "$out" 2>/dev/null || true
  chmod 640 "$out"
}
locked_in() { grep -a -c -E '^[^:#][^:]*:[!*]' "$1"; }  # lines whose password field is locked
MACHINE="this machine's /etc/shadow"

Y1=$(mkpasswd -m yescrypt 'correct horse battery')
Y2=$(mkpasswd -m yescrypt 'staple 42')
S1=$(mkpasswd -m sha512crypt 'tr0ub4dor&3')
S2=$(mkpasswd -m sha512crypt -R 656000 'rounds are set here')
shadow_with "$W/shadow.strong" root="$Y1" backup="$S1" list="$S2" irc="$Y2"
record password_hashing pass_yescrypt_sha512 --plant /etc/shadow="$W/shadow.strong" \
  --source "$MACHINE with root and irc set to yescrypt (mkpasswd -m yescrypt), backup to sha512crypt (mkpasswd -m sha512crypt) and list to sha512crypt with rounds=656000 (mkpasswd -R 656000); every other account locked as on the machine; real login.defs (SHA512) and pam.d (yescrypt)" \
  --expect-status pass --expect-summary "4 account(s) with a password, all salted and slow" \
  --expect-summary "2 sha512crypt, 2 yescrypt" \
  --expect-value 'accounts_by_scheme={sha512crypt: 2, yescrypt: 2}' \
  --expect-value "locked_accounts=$(locked_in "$W/shadow.strong")"

shadow_with "$W/shadow.other" root="$(mkpasswd -m bcrypt 'pw one')" backup="$(mkpasswd -m bcrypt-a 'pw two')" \
  list="$(mkpasswd -m scrypt 'pw three')" irc="$(mkpasswd -m gost-yescrypt 'pw four')" \
  news="$(mkpasswd -m sha256crypt 'pw five')" proxy="$(openssl passwd -5 'pw six')" \
  uucp="$(openssl passwd -6 'pw seven')"
record password_hashing pass_bcrypt_scrypt_sha256 --plant /etc/shadow="$W/shadow.other" \
  --source "$MACHINE with root bcrypt \$2b\$ (mkpasswd -m bcrypt), backup bcrypt \$2a\$ (mkpasswd -m bcrypt-a), list scrypt (mkpasswd -m scrypt), irc gost-yescrypt, news sha256crypt (mkpasswd), proxy sha256crypt (openssl passwd -5), uucp sha512crypt (openssl passwd -6)" \
  --expect-status pass --expect-summary "7 account(s) with a password, all salted and slow" \
  --expect-value 'accounts_by_scheme={bcrypt: 2, gost-yescrypt: 1, scrypt: 1, sha256crypt: 2, sha512crypt: 1}' \
  --expect-value "locked_accounts=$(locked_in "$W/shadow.other")"

record password_hashing pass_no_passwords \
  --source "This machine's own /etc/shadow (every account locked with * or !), /etc/login.defs (ENCRYPT_METHOD SHA512) and /etc/pam.d (pam_unix yescrypt), nothing planted" \
  --expect-status pass --expect-summary "no account has a usable password ($(locked_in /etc/shadow) locked)" \
  --expect-value "locked_accounts=$(locked_in /etc/shadow)" --expect-value 'accounts_by_scheme={}'

shadow_with "$W/shadow.md5" root="$Y1" backup="$(openssl passwd -1 'md5 is fast')"
record password_hashing fail_md5crypt --plant /etc/shadow="$W/shadow.md5" \
  --source "$MACHINE with root set to yescrypt and backup to md5crypt (openssl passwd -1)" \
  --expect-status fail --expect-summary "1 problem(s): backup uses md5crypt (MD5-based" \
  --expect-value 'accounts_by_scheme={md5crypt: 1, yescrypt: 1}'

shadow_with "$W/shadow.des" root="$Y1" lp="$(mkpasswd -m descrypt 'eight ch')"
record password_hashing fail_des --plant /etc/shadow="$W/shadow.des" \
  --source "$MACHINE with root set to yescrypt and lp to traditional DES crypt (mkpasswd -m descrypt)" \
  --expect-status fail --expect-summary "lp uses DES crypt" \
  --expect-value 'accounts_by_scheme={DES crypt: 1, yescrypt: 1}'

shadow_with "$W/shadow.legacy" root="$Y1" man="$(mkpasswd -m nt 'nt hash')" \
  mail="$(mkpasswd -m bsdicrypt 'bsdi pw')"
record password_hashing fail_nt_bsdi --plant /etc/shadow="$W/shadow.legacy" \
  --source "$MACHINE with root set to yescrypt, man to an NT hash (mkpasswd -m nt, \$3\$) and mail to BSDi extended DES (mkpasswd -m bsdicrypt, _...)" \
  --expect-status fail --expect-summary "2 problem(s)" --expect-summary "man uses NT hash (unsalted MD4)" \
  --expect-summary "mail uses BSDi extended DES" \
  --expect-value 'accounts_by_scheme={BSDi extended DES: 1, NT hash: 1, yescrypt: 1}'

shadow_with "$W/shadow.sunmd5" root="$Y1" games="$(mkpasswd -m sunmd5 'sun md5')"
record password_hashing fail_sunmd5 --plant /etc/shadow="$W/shadow.sunmd5" \
  --source "$MACHINE with root set to yescrypt and games to Sun md5crypt (mkpasswd -m sunmd5, which writes \$md5,rounds=N\$salt\$\$hash)" \
  --expect-status fail --expect-summary "games uses Sun md5crypt" \
  --expect-value 'accounts_by_scheme={Sun md5crypt: 1, yescrypt: 1}'

shadow_with "$W/shadow.plain" root="$Y1" proxy='hunter2'
record password_hashing fail_plaintext --plant /etc/shadow="$W/shadow.plain" \
  --source "$MACHINE with root set to yescrypt and proxy's password field set to the plain text of a password (not quoted here)" \
  --expect-status fail --expect-summary "proxy uses not a hash" \
  --expect-value 'accounts_by_scheme={not a hash: 1, yescrypt: 1}'

shadow_with "$W/shadow.empty" root="$Y1" www-data=''
record password_hashing fail_empty_password --plant /etc/shadow="$W/shadow.empty" \
  --source "$MACHINE with root set to yescrypt and www-data's password field emptied (www-data::...)" \
  --expect-status fail --expect-summary "www-data uses no password" \
  --expect-value 'accounts_by_scheme={no password: 1, yescrypt: 1}'

shadow_with "$W/shadow.salt" root="$Y1" backup="$(mkpasswd -m sha-512 -S samesalt1 pw1)" \
  list="$(mkpasswd -m sha-512 -S samesalt1 pw2)"
record password_hashing fail_shared_salt --plant /etc/shadow="$W/shadow.salt" \
  --source "$MACHINE with root set to yescrypt, and backup and list set to sha512crypt with the same salt (mkpasswd -m sha-512 -S samesalt1 pw1 / pw2)" \
  --expect-status fail --expect-summary "2 problem(s): backup: shares its salt with another account; list: shares its salt" \
  --expect-value 'accounts_by_scheme={sha512crypt: 2, yescrypt: 1}'

sed 's/^ENCRYPT_METHOD .*/ENCRYPT_METHOD MD5/' /etc/login.defs >"$W/login.defs.md5"
grep -q '^ENCRYPT_METHOD MD5$' "$W/login.defs.md5"
record password_hashing fail_login_defs_md5 --plant /etc/login.defs="$W/login.defs.md5" \
  --source "This machine's /etc/login.defs with its ENCRYPT_METHOD line set to MD5; the machine's own /etc/shadow (all locked) and /etc/pam.d" \
  --expect-status fail --expect-summary "login.defs ENCRYPT_METHOD MD5 is not a strong scheme"

grep -v '^ENCRYPT_METHOD' /etc/login.defs >"$W/login.defs.none"
record password_hashing fail_login_defs_no_method --plant /etc/login.defs="$W/login.defs.none" \
  --source "This machine's /etc/login.defs with its ENCRYPT_METHOD line removed (MD5_CRYPT_ENAB unset); the machine's own /etc/shadow (all locked) and /etc/pam.d" \
  --expect-status fail --expect-summary "login.defs sets no ENCRYPT_METHOD" --expect-summary "fall back to DES"

cp -a /etc/pam.d "$W/pam.d.md5"
sed -i 's/\(pam_unix\.so.*\) yescrypt/\1 md5/' "$W/pam.d.md5/common-password"
grep -q 'pam_unix.so obscure md5' "$W/pam.d.md5/common-password"
record password_hashing fail_pam_md5 --plant-dir /etc/pam.d="$W/pam.d.md5" \
  --source "A copy of this machine's /etc/pam.d whose common-password says 'pam_unix.so obscure md5' instead of 'obscure yescrypt'; the machine's own /etc/shadow (all locked) and /etc/login.defs (SHA512)" \
  --expect-status fail --expect-summary "/etc/pam.d/common-password: pam_unix hashes new passwords with md5"

record password_hashing error_unreadable --run-as nobody \
  --source "This machine's own /etc/shadow (mode 640 root:shadow), read by the probes running as nobody:nogroup with no supplementary groups (as a login without become: sudo would)" \
  --expect-status error --expect-summary "probe password_hashing.shadow_schemes exited 2" \
  --expect-summary "/etc/shadow"

# Odd content: comments, blank and blank-looking lines, a line without fields, a CRLF line,
# a Latin-1 user name, a non-UTF-8 and a 100,000-character password field.
{
  printf 'root:%s:20000:0:99999:7:::\n' "$Y1"
  printf '# hand-edited on 2024-01-02, do not touch\n\n   \n'
  grep -v '^root:' /etc/shadow
  printf 'crlf:%s:20000:0:99999:7:::\r\n' "$S1"
  printf 'caf\351:%s:20000:0:99999:7:::\n' "$S2"
  printf 'justaname\n'
  printf 'binary:\377\376\001:20000:0:99999:7:::\n'
  printf 'huge:%s:20000:0:99999:7:::\n' "$(head -c 100000 /dev/zero | tr '\0' 'A')"
} >"$W/shadow.garbled"
record password_hashing garbled --plant /etc/shadow="$W/shadow.garbled" \
  --source "$MACHINE plus odd lines: root set to yescrypt, a comment line, an empty and a blank line, a line with no colon, user crlf (sha512crypt, CRLF line end), user caf\\xe9 (Latin-1 byte, sha512crypt rounds=656000), user binary (password field bytes ff fe 01) and user huge (password field of 100,000 'A')" \
  --expect-status fail --expect-summary "2 problem(s): binary uses not a hash" --expect-summary "huge uses not a hash" \
  --expect-value 'accounts_by_scheme={not a hash: 2, sha512crypt: 2, yescrypt: 1}' \
  --expect-value "locked_accounts=$(locked_in "$W/shadow.garbled")"

{
  printf 'root:%s:20000:0:99999:7:::\n' "$Y1"
  grep -v '^root:' /etc/shadow
  printf 'tab\tuser:%s:20000:0:99999:7:::\n' "$S1"
} >"$W/shadow.tab"
record password_hashing garbled_tab_in_name --plant /etc/shadow="$W/shadow.tab" \
  --source "$MACHINE with root set to yescrypt plus a user whose name holds a tab character (tab<TAB>user, sha512crypt): the shadow probe's tab-separated output can no longer be split" \
  --expect-status error --expect-summary "unexpected line from the shadow probe"

# RHEL family (Rocky/Alma/RHEL 9): authselect's system-auth and password-auth (symbolic links
# into /etc/authselect), RHEL 9's login.defs, a shadow file whose root and admin accounts hold
# sha512crypt hashes (anaconda's default there) and whose service accounts are locked with
# RHEL's `!!`. The stock files and their sources: tests/checks/password_hashing/rhel9/.
RH=tests/checks/password_hashing/rhel9
mkdir -p "$W/rhel9.pam.d" "$W/rhel9.authselect"
cp "$RH/passwd" "$RH/sshd" "$W/rhel9.pam.d/"
ln -sf /etc/authselect/system-auth "$W/rhel9.pam.d/system-auth"
ln -sf /etc/authselect/password-auth "$W/rhel9.pam.d/password-auth"
cp "$RH/system-auth" "$RH/password-auth" "$RH/authselect.conf" "$W/rhel9.authselect/"
{
  printf 'root:%s:19800:0:99999:7:::\n' "$(mkpasswd -m sha512crypt 'rocky root pw')"
  grep -v '^root:' /etc/shadow
  printf 'rocky:%s:19800:0:99999:7:::\n' "$(mkpasswd -m sha512crypt 'rocky admin pw')"
  printf 'chrony:!!:19800::::::\nsshd:!!:19800::::::\n'
} >"$W/shadow.rhel9"
chmod 600 "$W/shadow.rhel9"
RHEL9="RHEL 9 layout (no RHEL machine here, planted on this Debian 12 one): /etc/pam.d/system-auth and password-auth as symbolic links to /etc/authselect/, whose files are authselect 1.2.6's sssd profile as RHEL 9 writes it (pam_unix.so sha512 shadow nullok use_authtok), /etc/authselect/authselect.conf (sssd, with-silent-lastlog), RHEL 9's pam.d/passwd and sshd, RHEL 9's login.defs (ENCRYPT_METHOD SHA512); sources in tests/checks/password_hashing/rhel9/README.md"
record password_hashing pass_rhel9_authselect_sha512 --plant /etc/shadow="$W/shadow.rhel9" \
  --plant-dir /etc/pam.d="$W/rhel9.pam.d" --plant-dir /etc/authselect="$W/rhel9.authselect" \
  --plant /etc/login.defs="$RH/login.defs" \
  --source "$RHEL9; /etc/shadow: this machine's accounts (locked) plus root and rocky with sha512crypt (mkpasswd -m sha512crypt, as anaconda sets them) and chrony and sshd locked with !!" \
  --expect-status pass --expect-summary "2 account(s) with a password, all salted and slow: 2 sha512crypt" \
  --expect-value 'authselect_profile=sssd' \
  --expect-value 'pam_unix_schemes={/etc/pam.d/password-auth: sha512, /etc/pam.d/system-auth: sha512}'

sed 's/pam_unix.so sha512 /pam_unix.so md5 /' "$RH/system-auth" >"$W/rhel9.authselect/system-auth.md5"
mkdir -p "$W/rhel9.authselect.md5"
cp "$RH/password-auth" "$RH/authselect.conf" "$W/rhel9.authselect.md5/"
cp "$W/rhel9.authselect/system-auth.md5" "$W/rhel9.authselect.md5/system-auth"
grep -q 'pam_unix.so md5 shadow' "$W/rhel9.authselect.md5/system-auth"
record password_hashing fail_rhel9_authselect_md5 --plant /etc/shadow="$W/shadow.rhel9" \
  --plant-dir /etc/pam.d="$W/rhel9.pam.d" --plant-dir /etc/authselect="$W/rhel9.authselect.md5" \
  --plant /etc/login.defs="$RH/login.defs" \
  --source "As pass_rhel9_authselect_sha512, with /etc/authselect/system-auth saying 'pam_unix.so md5 shadow nullok use_authtok' (as a hand edit or an old custom profile would): passwd(1) would store md5crypt hashes" \
  --expect-status fail --expect-summary "1 problem(s): /etc/pam.d/system-auth: pam_unix hashes new passwords with md5 (written by authselect profile sssd"

# Ubuntu 24.04 / 22.04 and Debian 13: pam-auth-update writes common-password from
# /usr/share/pam-configs/unix's Password-Initial line (pam_unix.so obscure yescrypt), the same
# on all three; accounts made by their installers get yescrypt ($y$j9T$...).
mkdir -p "$W/ubuntu.pam.d"
cat >"$W/ubuntu.pam.d/common-password" <<'PAM'
#
# /etc/pam.d/common-password - password-related modules common to all services
#
# This file is included from other service-specific PAM config files,
# and should contain a list of modules that define the services to be
# used to change user passwords.  The default is pam_unix.
#
# As of pam 1.0.1-6, this file is managed by pam-auth-update by default.
# To take advantage of this, it is recommended that you configure any
# local modules either before or after the default block, and use
# pam-auth-update to manage selection of other modules.  See
# pam-auth-update(8) for details.

# here are the per-package modules (the "Primary" block)
password	[success=1 default=ignore]	pam_unix.so obscure yescrypt
# here's the fallback if no module succeeds
password	requisite			pam_deny.so
# prime the stack with a positive return value if there isn't one already;
# this avoids us returning an error just because nothing sets a success code
# since the modules above will each just jump around
password	required			pam_permit.so
# and here are more per-package modules (the "Additional" block)
# end of pam-auth-update config
PAM
printf '#%%PAM-1.0\n\n@include common-password\n' >"$W/ubuntu.pam.d/passwd"
shadow_with "$W/shadow.ubuntu" root='*' backup="$(mkpasswd -m yescrypt 'ubuntu user pw')"
record password_hashing pass_ubuntu_common_password_yescrypt --plant /etc/shadow="$W/shadow.ubuntu" \
  --plant-dir /etc/pam.d="$W/ubuntu.pam.d" \
  --source "Ubuntu 22.04/24.04 and Debian 13 layout (no such machine here, planted on this Debian 12 one): /etc/pam.d/common-password as pam-auth-update writes it from libpam-runtime's /usr/share/pam-configs/unix (Password-Initial: pam_unix.so obscure yescrypt; text as on Ubuntu 24.04) and passwd including it; root locked with * (Ubuntu's installer leaves root without a password), one user with yescrypt (mkpasswd -m yescrypt); this machine's login.defs (ENCRYPT_METHOD SHA512, as Ubuntu 22.04's)" \
  --expect-status pass --expect-summary "1 account(s) with a password, all salted and slow: 1 yescrypt" \
  --expect-value 'pam_unix_schemes={/etc/pam.d/common-password: yescrypt}' --expect-value 'authselect_profile=null'

# A named pipe where a configuration file should be, that nothing writes to: opening it for
# reading blocks, so the probes name it instead of opening it, and what it would set is unknown.
mkfifo "$W/ph-fifo"
record password_hashing error_login_defs_fifo --plant-symlink /etc/login.defs="$W/ph-fifo" \
  --source "This machine's own /etc/shadow (every account locked) and /etc/pam.d (pam_unix yescrypt); /etc/login.defs a link to a named pipe (mkfifo) that no process writes to, so that reading it would block" \
  --expect-status error --expect-summary "/etc/login.defs is a named pipe (FIFO), not a regular file: not read"
record password_hashing error_pam_d_fifo --plant-symlink /etc/pam.d/zz-fifo="$W/ph-fifo" \
  --source "This machine's own /etc/shadow (every account locked), /etc/login.defs (ENCRYPT_METHOD SHA512) and /etc/pam.d (pam_unix yescrypt), plus /etc/pam.d/zz-fifo, a link to a named pipe (mkfifo) that no process writes to, so that reading it would block" \
  --expect-status error --expect-summary "/etc/pam.d/zz-fifo is a named pipe (FIFO), not a regular file: not read" \
  --expect-value 'pam_unix_schemes={/etc/pam.d/common-password: yescrypt}'
