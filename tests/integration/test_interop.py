"""Interoperability with real mail software: Postfix relays into smtpd,
Dovecot serves smtpd's maildir over IMAP.

Both tests need root and the Debian packages `postfix`, `dovecot-imapd`
(and `swaks` for the Dovecot test); without them they are skipped. Each
starts a private instance of the other program in a temp dir (its own
config, queue/state, log, loopback-only addresses, no DNS) and stops it
at cleanup, even on failure. Nothing under /etc, /var or /run is written
and the system's own postfix/dovecot (if any) is not touched.
"""

import email
import email.policy
import imaplib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Daemon, IO_TIMEOUT, RawClient, _listening, free_port, split_trace

POSTFIX = shutil.which('postfix', path='/usr/sbin:/usr/bin:/sbin:/bin')
POSTCONF = shutil.which('postconf', path='/usr/sbin:/usr/bin:/sbin:/bin')
POSTQUEUE = shutil.which('postqueue', path='/usr/sbin:/usr/bin:/sbin:/bin')
DOVECOT = shutil.which('dovecot', path='/usr/sbin:/usr/bin:/sbin:/bin')
SWAKS = shutil.which('swaks')
CMD_TIMEOUT = 20          # any single postfix/dovecot/swaks command
DELIVERY_TIMEOUT = 30     # Postfix queue -> smtpd maildir
STOP_TIMEOUT = 10         # a stopped server's master process must be gone


def is_root():
    return hasattr(os, 'geteuid') and os.geteuid() == 0


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def run(args, **kw):
    """Run a command that exits (daemons started this way must not keep
    our stdout pipe open: see DovecotInstance.start)."""
    kw.setdefault('timeout', CMD_TIMEOUT)
    if 'input' not in kw:
        kw.setdefault('stdin', subprocess.DEVNULL)
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def wait_gone(pid, timeout=STOP_TIMEOUT):
    """Wait until pid has exited; SIGKILL it after timeout."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return False
        time.sleep(0.05)
    return True


def start_smtpd(test, extra=()):
    d = Daemon(list(extra))
    test.addCleanup(d.cleanup)
    # let unprivileged readers (Dovecot's mail processes) through the 0700
    # temp dir the harness made; harmless when smtpd keeps root
    os.chmod(d.tmp, 0o755)
    # smtpd gives away only a spool root it makes: hand ours to the user
    for line in extra:
        if line.split()[:1] == ['user']:
            pw = pwd.getpwnam(line.split()[1])
            os.chown(d.spool, pw.pw_uid, pw.pw_gid)
    d.start()
    test.addCleanup(d.stop_and_check)
    return d


def postfix_version():
    """(major, minor) of the installed Postfix, or None."""
    if not POSTCONF:
        return None
    try:
        r = run([POSTCONF, '-dh', 'mail_version'])
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r'(\d+)\.(\d+)', r.stdout.decode())
    return (int(m.group(1)), int(m.group(2))) if m else None


# ---------------------------------------------------------------------------
# 1. Postfix -> smtpd
# ---------------------------------------------------------------------------

# The recipe that works with Debian 12's Postfix 3.7 (root):
#  - a temp dir, chmod 0755 so the postfix user can reach data/ and queue/;
#  - conf/main.cf written from scratch (below), conf/master.cf copied from
#    the system (or master.cf.dist) with every service's chroot column set
#    to "n" (`postconf -c conf -F '*/*/chroot = n'`): Debian ships chroot=y,
#    which would need copies of /etc files inside the temp queue;
#  - queue/ created by us (root-owned; `postfix start` runs post-install
#    create-missing, which makes maildrop/, public/, pid/ ... with the
#    right owners and the postdrop group), data/ created and chowned to
#    the postfix user;
#  - `master_service_disable = inet` keeps master from listening anywhere:
#    mail enters through sendmail -> postdrop -> maildrop/ -> pickup;
#  - logging to a file with `maillog_file` (needs the `postlog` service in
#    master.cf, present since 3.4) and `maillog_file_prefixes` allowing
#    the temp dir; `debug_peer_list = 127.0.0.1` logs the SMTP dialogue of
#    the smtp client, which shows whether it pipelined;
#  - `postfix -c conf check`, `postfix -c conf start`; sendmail -C conf and
#    postqueue -c conf need no alternate_config_directories when the
#    caller is root; `postfix -c conf stop` and waiting for the master pid
#    (queue/pid/master.pid) to exit, SIGKILL after STOP_TIMEOUT.

def master_cf_source():
    for p in ('/etc/postfix/master.cf', '/usr/share/postfix/master.cf.dist',
              '/etc/postfix/master.cf.proto'):
        if os.path.isfile(p):
            return p
    return None


class PostfixInstance:

    def __init__(self, relay_port):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-postfix-')
        os.chmod(self.tmp, 0o755)
        self.conf = os.path.join(self.tmp, 'conf')
        self.queue = os.path.join(self.tmp, 'queue')
        self.data = os.path.join(self.tmp, 'data')
        self.maillog = os.path.join(self.tmp, 'maillog')
        self.relay_port = relay_port
        self.started = False
        self.master_pid = None

    def postconf_default(self, name):
        return run([POSTCONF, '-dh', name]).stdout.decode().strip()

    def setup(self):
        os.mkdir(self.conf)
        os.mkdir(self.queue)
        os.mkdir(self.data)
        owner = self.postconf_default('mail_owner') or 'postfix'
        pw = pwd.getpwnam(owner)
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        os.chmod(self.data, 0o700)
        shutil.copy(master_cf_source(), os.path.join(self.conf, 'master.cf'))
        settings = [
            ('compatibility_level', '3.6'),
            ('myhostname', 'relay.test'),
            ('mydomain', 'relay.test'),
            ('myorigin', '$myhostname'),
            ('mydestination', ''),
            ('mynetworks', '127.0.0.0/8'),
            ('inet_interfaces', 'loopback-only'),
            ('inet_protocols', 'ipv4'),
            ('master_service_disable', 'inet'),
            ('relayhost', '[127.0.0.1]:%d' % self.relay_port),
            ('smtp_dns_support_level', 'disabled'),
            ('disable_dns_lookups', 'yes'),
            ('smtp_host_lookup', 'native'),
            ('smtp_tls_security_level', 'none'),
            ('smtp_bind_address', '127.0.0.1'),
            ('alias_maps', ''),
            ('alias_database', ''),
            ('queue_directory', self.queue),
            ('data_directory', self.data),
            ('maillog_file', self.maillog),
            ('maillog_file_prefixes', self.tmp),
            ('debug_peer_list', '127.0.0.1'),
            ('debug_peer_level', '2'),
            # retry quickly rather than sit in deferred/ for minutes
            ('queue_run_delay', '5s'),
            ('minimal_backoff_time', '5s'),
            ('maximal_backoff_time', '10s'),
            ('smtp_connect_timeout', '10s'),
        ]
        for name in ('daemon_directory', 'shlib_directory', 'meta_directory',
                     'command_directory', 'sendmail_path', 'mailq_path',
                     'newaliases_path', 'manpage_directory', 'html_directory',
                     'readme_directory', 'sample_directory'):
            v = self.postconf_default(name)
            if v:
                settings.append((name, v))
        with open(os.path.join(self.conf, 'main.cf'), 'w') as f:
            f.write('# private Postfix instance for smtpd tests\n')
            for k, v in settings:
                f.write('%s = %s\n' % (k, v))
        r = run([POSTCONF, '-c', self.conf, '-F', '*/*/chroot = n'])
        if r.returncode != 0:
            raise AssertionError('postconf -F failed: %s' % r.stdout.decode())
        self.command_directory = self.postconf_default('command_directory') or '/usr/sbin'

    def check_and_start(self):
        r = run([POSTFIX, '-c', self.conf, 'check'])
        if r.returncode != 0:
            raise AssertionError('postfix check failed:\n%s\n%s'
                                 % (r.stdout.decode(), self.log()))
        r = run([POSTFIX, '-c', self.conf, 'start'])
        self.started = True
        if r.returncode != 0:
            raise AssertionError('postfix start failed:\n%s\n%s'
                                 % (r.stdout.decode(), self.log()))
        pidfile = os.path.join(self.queue, 'pid', 'master.pid')
        deadline = time.monotonic() + CMD_TIMEOUT
        while True:
            self.master_pid = read_pid(pidfile)
            if self.master_pid and pid_alive(self.master_pid):
                # public/pickup is where postdrop pokes pickup
                if os.path.exists(os.path.join(self.queue, 'public', 'pickup')):
                    return
            if time.monotonic() > deadline:
                raise AssertionError('postfix master not running:\n' + self.log())
            time.sleep(0.05)

    def sendmail(self, message, sender, rcpt):
        sendmail = os.path.join(self.command_directory, 'sendmail')
        r = run([sendmail, '-C', self.conf, '-i', '-f', sender, rcpt],
                input=message)
        if r.returncode != 0:
            raise AssertionError('sendmail failed (%d): %s\n%s'
                                 % (r.returncode, r.stdout.decode(), self.log()))

    def flush(self):
        postqueue = POSTQUEUE or os.path.join(self.command_directory, 'postqueue')
        run([postqueue, '-c', self.conf, '-f'])

    def log(self):
        return read_text(self.maillog)

    def stop(self):
        if not self.started:
            return
        self.started = False
        pid = self.master_pid or read_pid(os.path.join(self.queue, 'pid', 'master.pid'))
        try:
            run([POSTFIX, '-c', self.conf, 'stop'])
        except (OSError, subprocess.TimeoutExpired):
            pass
        if pid:
            if not wait_gone(pid):
                # children exit on their own once master's status pipe closes
                time.sleep(0.5)

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def wait_for_messages(path, n, timeout, poke=None):
    """Raw bytes of the files in path/new once there are n of them."""
    new = os.path.join(path, 'new')
    deadline = time.monotonic() + timeout
    next_poke = time.monotonic() + 5
    while True:
        names = sorted(os.listdir(new)) if os.path.isdir(new) else []
        if len(names) >= n or time.monotonic() > deadline:
            out = []
            for name in names:
                with open(os.path.join(new, name), 'rb') as f:
                    out.append(f.read())
            return out
        if poke and time.monotonic() > next_poke:
            poke()
            next_poke = time.monotonic() + 5
        time.sleep(0.1)


def header_block_end(raw):
    i = raw.find(b'\n\n')
    if i < 0:
        raise AssertionError('no end of header in %r' % raw[:300])
    return i + 2


MSG_UTF8 = (
    'From: Sender <sender@relay.test>\n'
    'To: rcpt@example.org\n'
    'Subject: interop 8bit\n'
    'Date: Thu, 01 Jan 2026 00:00:00 +0000\n'
    'Message-ID: <interop-8bit@relay.test>\n'
    'MIME-Version: 1.0\n'
    'Content-Type: text/plain; charset=UTF-8\n'
    'Content-Transfer-Encoding: 8bit\n'
    '\n'
    'Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u65e5\u672c\u8a9e \u20ac \u2713\n'
    '\u00e4\u00f6\u00fc\u00c4\u00d6\u00dc\u00df \U0001f600\n'
    'plain ASCII line\n'
).encode('utf-8')

MSG_DOTS = (
    b'From: sender@relay.test\n'
    b'To: rcpt@example.org\n'
    b'Subject: interop dots\n'
    b'Date: Thu, 01 Jan 2026 00:00:01 +0000\n'
    b'Message-ID: <interop-dots@relay.test>\n'
    b'\n'
    b'.leading dot\n'
    b'..two leading dots\n'
    b'.\n'
    b'..\n'
    b'middle . dot\n'
    b'. dot space\n'
    b'last line\n'
)


def big_message(size=200 * 1024):
    lines = [b'From: sender@relay.test', b'To: rcpt@example.org',
             b'Subject: interop big', b'Date: Thu, 01 Jan 2026 00:00:02 +0000',
             b'Message-ID: <interop-big@relay.test>', b'']
    total = sum(len(l) + 1 for l in lines)
    i = 0
    while total < size:
        l = ('%06d ' % i).encode() + bytes(33 + (i * 7 + j) % 94 for j in range(70))
        if i % 97 == 0:
            l = b'.' + l          # an occasional leading dot too
        lines.append(l)
        total += len(l) + 1
        i += 1
    return b'\n'.join(lines) + b'\n'


@unittest.skipUnless(is_root(), 'needs root (Postfix instance)')
@unittest.skipUnless(POSTFIX and POSTCONF and (postfix_version() or (0,)) >= (3, 4),
                     'needs Postfix >= 3.4 (apt-get install postfix)')
@unittest.skipUnless(master_cf_source(), 'no Postfix master.cf to copy')
class PostfixRelay(unittest.TestCase):

    def test_postfix_relays_into_smtpd(self):
        started = time.monotonic()
        d = start_smtpd(self)
        pf = PostfixInstance(d.port)
        self.addCleanup(pf.cleanup)
        pf.setup()
        pf.check_and_start()

        big = big_message()
        sent = {'interop-8bit': MSG_UTF8, 'interop-big': big, 'interop-dots': MSG_DOTS}
        for msg in (MSG_UTF8, big, MSG_DOTS):
            pf.sendmail(msg, 'sender@relay.test', 'rcpt@example.org')
        pf.flush()

        stored = wait_for_messages(d.maildir_path('rcpt'), 3, DELIVERY_TIMEOUT,
                                   poke=pf.flush)
        self.assertEqual(len(stored), 3, 'expected 3 messages from Postfix, got %d\n'
                         '--- postfix log ---\n%s\n--- smtpd stderr ---\n%s'
                         % (len(stored), pf.log()[-4000:], d.stderr()))

        by_id = {}
        for raw in stored:
            m = re.search(rb'^Message-I[Dd]: <([^@>]+)@relay\.test>$', raw, re.M)
            self.assertIsNotNone(m, 'no Message-ID in %r' % raw[:500])
            by_id[m.group(1).decode()] = raw
        self.assertEqual(sorted(by_id), sorted(sent))

        for key, orig in sent.items():
            raw = by_id[key]
            rp, received, rest = split_trace(raw)
            self.assertEqual(rp, 'Return-Path: <sender@relay.test>')
            self.assertRegex(received, r'^Received: from relay\.test \(\[127\.0\.0\.1\]\)')
            self.assertIn(' with ESMTP ', received)
            self.assertIn('for <rcpt@example.org>', received)
            # body (after the header block) byte for byte
            self.assertEqual(rest[header_block_end(rest):], orig[header_block_end(orig):],
                             'body of %s changed' % key)
            # Postfix prepends only its own Received:, our headers follow as sent
            self.assertTrue(rest.startswith(b'Received: by relay.test (Postfix'),
                            rest[:300])
            self.assertTrue(rest.endswith(orig), 'headers of %s changed:\n%r'
                            % (key, rest[:800]))

        # smtpd saw Postfix's sessions and logged every delivery
        err = d.stderr(200000)
        delivered = re.findall(r'^.*result=delivered.*$', err, re.M)
        self.assertEqual(len(delivered), 3, err)
        for line in delivered:
            self.assertIn('helo="relay.test"', line)
            self.assertIn('from="<sender@relay.test>"', line)
        stored = re.findall(r'^.* to="<rcpt@example\.org>" .*status=stored .*$', err, re.M)
        self.assertEqual(len(stored), 3, err)
        self.assertRegex(err, r'session=\d+ connect client=\[127\.0\.0\.1\]')
        self.assertRegex(err, r'session=\d+ disconnect client=\[127\.0\.0\.1\] '
                              r'helo="relay\.test" .*errors=0')
        self.assertNotRegex(err, r' reject ')

        # Postfix's side: all sent, nothing deferred, and (debug_peer_list)
        # its SMTP dialogue shows ESMTP features used
        log = pf.log()
        self.assertEqual(len(re.findall(r'status=sent \(250 2\.0\.0', log)), 3, log[-4000:])
        self.assertNotRegex(log, r'status=(deferred|bounced)')
        sent_cmds = re.findall(r'> 127\.0\.0\.1\[127\.0\.0\.1\]:%d: (.*)$' % d.port, log, re.M)
        mails = [c for c in sent_cmds if c.startswith('MAIL FROM:')]
        self.assertEqual(len(mails), 3, sent_cmds)
        self.assertTrue(any('BODY=8BITMIME' in c for c in mails), mails)
        self.assertTrue(all(re.search(r' SIZE=\d+', c) for c in mails), mails)
        # pipelining: after MAIL FROM, Postfix sends RCPT TO and DATA
        # before it logs the reply to MAIL FROM
        dialogue = re.findall(r'([<>]) 127\.0\.0\.1\[127\.0\.0\.1\]:%d: (.*)$' % d.port,
                              log, re.M)
        pipelined = False
        for i, (direction, text) in enumerate(dialogue):
            if direction == '>' and text.startswith('MAIL FROM:'):
                if (i + 1 < len(dialogue) and dialogue[i + 1][0] == '>'
                        and dialogue[i + 1][1].startswith('RCPT TO:')):
                    pipelined = True
        self.assertTrue(pipelined, 'Postfix did not pipeline MAIL/RCPT:\n%s'
                        % '\n'.join('%s %s' % x for x in dialogue))
        self.assertLess(time.monotonic() - started, 60)


# ---------------------------------------------------------------------------
# 2. smtpd -> maildir -> Dovecot IMAP
# ---------------------------------------------------------------------------

# Dovecot refuses mail access for uids below first_valid_uid ("Mail access
# for users with UID 0 not permitted ..."), and serving IMAP as root is not
# what anybody deploys, so smtpd runs with `user nobody` (it drops privileges
# and its spool is then owned by nobody, files 0600) and Dovecot's static
# userdb maps alice to nobody's uid/gid. base_dir, state_dir (instance
# registry) and the log live in the temp dir, so nothing under /run or
# /var/lib/dovecot is touched. imap-login runs as dovenull, auth as dovecot
# (the package's users); only the master is root.

DOVECOT_CONF = """\
base_dir = {tmp}/run
state_dir = {tmp}/state
instance_name = smtpd-test-{port}
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = {tmp}/dovecot.log
info_log_path = {tmp}/dovecot.log
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{maildir}
shutdown_clients = yes
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = static
  args = password=secret
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/home mail=maildir:{maildir}
}}
"""


class DovecotInstance:

    def __init__(self, maildir, user='nobody'):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-dovecot-')
        os.chmod(self.tmp, 0o755)
        self.port = free_port()
        pw = pwd.getpwnam(user)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.conf = os.path.join(self.tmp, 'dovecot.conf')
        self.logfile = os.path.join(self.tmp, 'dovecot.log')
        for sub in ('run', 'state'):
            os.mkdir(os.path.join(self.tmp, sub))
        home = os.path.join(self.tmp, 'home')
        os.mkdir(home)
        os.chown(home, self.uid, self.gid)
        with open(self.conf, 'w') as f:
            f.write(DOVECOT_CONF.format(tmp=self.tmp, port=self.port, uid=self.uid,
                                        gid=self.gid, maildir=maildir))
        self.master_pid = None

    def start(self):
        # dovecot forks its master into the background, which keeps the
        # stdout/stderr it was given: hand it a file, not a pipe we wait on
        out = os.path.join(self.tmp, 'dovecot.out')
        with open(out, 'wb') as f:
            rc = subprocess.run([DOVECOT, '-c', self.conf], stdin=subprocess.DEVNULL,
                                stdout=f, stderr=subprocess.STDOUT,
                                timeout=CMD_TIMEOUT).returncode
        if rc != 0:
            raise AssertionError('dovecot failed to start (%d): %s\n%s'
                                 % (rc, read_text(out), self.log()))
        pidfile = os.path.join(self.tmp, 'run', 'master.pid')
        deadline = time.monotonic() + CMD_TIMEOUT
        while True:
            self.master_pid = read_pid(pidfile)
            if self.master_pid and _listening(self.port):
                return
            if time.monotonic() > deadline:
                raise AssertionError('dovecot does not listen on %d:\n%s'
                                     % (self.port, self.log()))
            time.sleep(0.05)

    def log(self):
        return read_text(self.logfile)

    def stop(self):
        pid = self.master_pid or read_pid(os.path.join(self.tmp, 'run', 'master.pid'))
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            wait_gone(pid)

    def cleanup(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def imap(self):
        c = imaplib.IMAP4('127.0.0.1', self.port, timeout=IO_TIMEOUT)
        return c


def imap_ok(resp, what):
    typ, data = resp
    if typ != 'OK':
        raise AssertionError('IMAP %s failed: %s %r' % (what, typ, data))
    return data


def fetch_all(c, count):
    """{seq: (flags, raw_message_bytes)} without setting \\Seen (PEEK)."""
    data = imap_ok(c.fetch('1:%d' % count, '(UID FLAGS BODY.PEEK[])'), 'FETCH')
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        head = item[0].decode()
        seq = int(head.split()[0])
        flags = re.search(r'FLAGS \(([^)]*)\)', head).group(1).split()
        out[seq] = (flags, item[1])
    return out


def fetch_flags(c, count):
    data = imap_ok(c.fetch('1:%d' % count, '(FLAGS)'), 'FETCH FLAGS')
    out = {}
    for item in data:
        line = item.decode() if isinstance(item, bytes) else item[0].decode()
        m = re.match(r'(\d+) \(FLAGS \(([^)]*)\)\)', line)
        out[int(m.group(1))] = m.group(2).split()
    return out


@unittest.skipUnless(is_root(), 'needs root (Dovecot instance, smtpd user switch)')
@unittest.skipUnless(DOVECOT, 'needs dovecot (apt-get install dovecot-imapd)')
@unittest.skipUnless(SWAKS, 'needs swaks')
@unittest.skipUnless(user_exists('nobody'), 'needs a user "nobody"')
class DovecotImap(unittest.TestCase):

    def test_dovecot_reads_smtpd_maildir(self):
        started = time.monotonic()
        d = start_smtpd(self, ['user nobody'])
        for n in (1, 2):
            r = run([SWAKS, '--server', '127.0.0.1:%d' % d.port, '--helo', 'client.test',
                     '--from', 'a@x.test', '--to', 'alice@example.org',
                     '--header', 'Subject: hello imap %d' % n, '--body', 'body %d' % n])
            self.assertEqual(r.returncode, 0, r.stdout.decode(errors='replace'))
        path = d.maildir_path('alice')
        new = os.path.join(path, 'new')
        names = sorted(os.listdir(new))
        self.assertEqual(len(names), 2, names)
        subject_of = {}
        for name in names:
            with open(os.path.join(new, name), 'rb') as f:
                m = email.message_from_bytes(f.read(), policy=email.policy.default)
            subject_of[name] = str(m['Subject'])
        self.assertEqual(sorted(subject_of.values()), ['hello imap 1', 'hello imap 2'])

        dc = DovecotInstance(path)
        self.addCleanup(dc.cleanup)
        dc.start()

        c = dc.imap()
        try:
            imap_ok(c.login('alice', 'secret'), 'LOGIN')
            count = int(imap_ok(c.select('INBOX'), 'SELECT')[0])
            self.assertEqual(count, 2, dc.log())
            msgs = fetch_all(c, count)
            self.assertEqual(sorted(msgs), [1, 2])
            seq_of = {}
            for seq, (flags, raw) in msgs.items():
                self.assertNotIn('\\Seen', flags)
                m = email.message_from_bytes(raw, policy=email.policy.default)
                subj = str(m['Subject'])
                n = int(re.fullmatch(r'hello imap (\d)', subj).group(1))
                seq_of[n] = seq
                self.assertEqual(m.get_content().strip(), 'body %d' % n)
                self.assertEqual(str(m['From']), 'a@x.test')
                self.assertEqual(str(m['To']), 'alice@example.org')
                self.assertTrue(str(m['Received']).startswith('from client.test'),
                                m['Received'])
                self.assertEqual(str(m['Return-Path']), '<a@x.test>')
            self.assertEqual(sorted(seq_of), [1, 2])
            imap_ok(c.store(str(seq_of[1]), '+FLAGS', '(\\Seen)'), 'STORE')
            self.assertEqual(c.logout()[0], 'BYE')
        finally:
            try:
                c.shutdown()
            except Exception:
                pass

        c = dc.imap()
        try:
            imap_ok(c.login('alice', 'secret'), 'LOGIN')
            count = int(imap_ok(c.select('INBOX'), 'SELECT')[0])
            self.assertEqual(count, 2)
            flags = fetch_flags(c, count)
            self.assertIn('\\Seen', flags[seq_of[1]])
            self.assertNotIn('\\Seen', flags[seq_of[2]])
            self.assertEqual(c.logout()[0], 'BYE')
        finally:
            try:
                c.shutdown()
            except Exception:
                pass

        # on disk: message 1 moved to cur/ with the S flag in its info
        # suffix, under the base name smtpd gave it; message 2 is in cur/
        # (Dovecot moves new/ mail there on SELECT) without S
        cur = sorted(os.listdir(os.path.join(path, 'cur')))
        self.assertEqual(os.listdir(new), [])
        base = {n: name for name, n in
                ((name, int(s.rsplit(' ', 1)[1])) for name, s in subject_of.items())}
        one = [f for f in cur if f.split(':', 1)[0] == base[1]]
        two = [f for f in cur if f.split(':', 1)[0] == base[2]]
        self.assertEqual(len(one), 1, cur)
        self.assertEqual(len(two), 1, cur)
        self.assertTrue(one[0].endswith(':2,S'), one)
        self.assertNotIn('S', two[0].partition(':2,')[2], two)
        self.assertNotRegex(dc.log(), r'(?i)\b(error|panic|fatal)\b')
        self.assertLess(time.monotonic() - started, 60)


if __name__ == '__main__':
    unittest.main()


@unittest.skipUnless(is_root(), 'needs root (Dovecot instance, smtpd user switch)')
@unittest.skipUnless(DOVECOT, 'needs dovecot (apt-get install dovecot-imapd)')
@unittest.skipUnless(user_exists('nobody'), 'needs a user "nobody"')
class DovecotCatchAllAndFolders(unittest.TestCase):
    """A catch-all's mail and a +extension's Maildir++ folder, as Dovecot
    shows them over IMAP."""

    def test_catch_all_inbox_and_lists_folder(self):
        d = start_smtpd(self, ['user nobody', 'domain example.net',
                               'recipient_delimiter +', 'extension_folders yes',
                               'alias @example.net admin@example.org'])
        for rcpt, subject in (('whoever@example.net', 'caught'),
                              ('admin+lists@example.org', 'for the list folder')):
            c = RawClient(d.port)
            c.envelope(rcpts=(rcpt,))
            c.send('DATA\r\n')
            c.expect(354)
            c.send(('Subject: %s\r\nTo: <%s>\r\n\r\nhello\r\n.\r\n'
                    % (subject, rcpt)).encode())
            c.expect(250)
            c.close()
        path = d.maildir_path('admin')
        dc = DovecotInstance(path)
        self.addCleanup(dc.cleanup)
        dc.start()
        c = dc.imap()
        try:
            imap_ok(c.login('admin', 'secret'), 'LOGIN')
            folders = [l.decode() for l in imap_ok(c.list(), 'LIST')]
            self.assertTrue(any(f.endswith(' lists') or f.endswith(' "lists"')
                                for f in folders), folders)
            self.assertEqual(int(imap_ok(c.select('INBOX'), 'SELECT')[0]), 1, dc.log())
            flags, raw = fetch_all(c, 1)[1]
            m = email.message_from_bytes(raw, policy=email.policy.default)
            self.assertEqual(str(m['Subject']), 'caught')
            self.assertEqual(str(m['Delivered-To']), 'admin@example.org')
            self.assertIn('whoever@example.net', str(m['To']))
            self.assertEqual(int(imap_ok(c.select('lists'), 'SELECT lists')[0]), 1, dc.log())
            flags, raw = fetch_all(c, 1)[1]
            m = email.message_from_bytes(raw, policy=email.policy.default)
            self.assertEqual(str(m['Subject']), 'for the list folder')
            self.assertEqual(c.logout()[0], 'BYE')
        finally:
            try:
                c.shutdown()
            except Exception:
                pass
        # Nothing was made for the made-up address itself.
        self.assertFalse(os.path.exists(d.maildir_path('whoever', 'example.net')))
