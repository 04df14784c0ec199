"""
test_haproxy.py - etc/haproxy-smtpd.cfg, as shipped (ports and paths
substituted), in front of two smtpd instances on PROXY listeners that
share one spool: 2,000 messages from 20 concurrent clients while one
instance is stopped (SIGTERM) and started again in the middle.

Proves: every message that got a 250 is stored exactly once; nothing is
stored that did not get one; a client that met the restart got a 4xx or
a closed connection (it sends the message again later, on a new
connection: had a 250 been lost, the message would be stored twice);
HAProxy marks the stopped instance DOWN and the restarted one UP, and
the restarted one takes traffic again. And: the health check needs
check-send-proxy on a proxy listener.
"""

import collections
import email.parser
import os
import pwd
import queue
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'integration'))
from harness import (Daemon, REPO_ROOT, SANITIZER_RE, _listening,  # noqa: E402
                     free_port, all_new_files)

CFG = os.path.join(REPO_ROOT, 'etc', 'haproxy-smtpd.cfg')
MESSAGES = 2000
CLIENTS = 20
PER_CONNECTION = 10         # messages before a client reconnects
MAX_ATTEMPTS = 6            # then a message counts as not accepted
DEADLINE = 90.0             # seconds for the whole run


def wait_for(cond, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


class HAProxy:
    """haproxy -db with the shipped config, substituted."""

    def __init__(self, tmp, backends, replace=()):
        self.tmp = tmp = tempfile.mkdtemp(prefix='haproxy-', dir=tmp)
        os.chmod(tmp, 0o755)
        self.port = free_port()
        self.sock = os.path.join(tmp, 'admin.sock')
        self.log = os.path.join(tmp, 'haproxy.log')
        with open(CFG) as f:
            text = f.read()
        subs = [
            (r'(?m)^\tbind :25$', '\tbind 127.0.0.1:%d' % self.port),
            (r'(?m)^\tserver smtpd1 127\.0\.0\.1:2526$',
             '\tserver smtpd1 127.0.0.1:%d' % backends[0]),
            (r'(?m)^\tserver smtpd2 127\.0\.0\.1:2527$',
             '\tserver smtpd2 127.0.0.1:%d' % backends[1]),
            (r'(?m)^\tstats socket /run/haproxy/admin\.sock ',
             '\tstats socket %s ' % self.sock),
            (r'(?m)^\tlog /dev/log mail$', '\tlog stderr format short mail'),
        ]
        if os.geteuid() != 0:
            # chroot and user need root; everything else is as shipped.
            subs += [(r'(?m)^\t(chroot|user|group) .*$', '')]
        for sub in list(subs) + list(replace):
            pat, rep, want = (sub + (1,))[:3]
            text, n = re.subn(pat, rep, text)
            if n != want:
                raise AssertionError('%s: %r matched %d times' % (CFG, pat, n))
        self.cfg = os.path.join(tmp, 'haproxy.cfg')
        with open(self.cfg, 'w') as f:
            f.write(text)
        haproxy = shutil.which('haproxy') or '/usr/sbin/haproxy'
        if not os.path.exists(haproxy):
            raise AssertionError('haproxy not installed (apt-get install haproxy)')
        self._log = open(self.log, 'wb')
        self.proc = subprocess.Popen([haproxy, '-f', self.cfg, '-db'],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log)
        if not wait_for(lambda: (_listening(self.port) and os.path.exists(self.sock))
                        or self.proc.poll() is not None, 10) \
                or self.proc.poll() is not None:
            raise AssertionError('haproxy did not start:\n' + self.output())

    def output(self):
        with open(self.log, 'rb') as f:
            return f.read()[-4000:].decode('utf-8', 'replace')

    def status(self):
        """{server name: status} of backend smtpd, from the stats socket."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(self.sock)
            s.sendall(b'show stat\n')
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        lines = data.decode().splitlines()
        head = lines[0].lstrip('# ').split(',')
        out = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(',')))
            if row.get('pxname') == 'smtpd' and row.get('svname') not in ('BACKEND', None):
                out[row['svname']] = row['status'].split()[0]
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def message(n):
    return ('From: <sender@x.test>\r\nTo: <user%d@example.org>\r\n'
            'Message-ID: <%d.haproxy-run@x.test>\r\nSubject: message %d\r\n\r\n'
            'body of message %d\r\n' % (n % 5, n, n, n)).encode()


class Run:
    """The client side: CLIENTS threads taking message numbers from a
    queue; a 4xx or a broken connection puts the message back."""

    def __init__(self, port):
        self.port = port
        self.todo = queue.Queue()
        self.lock = threading.Lock()
        self.accepted = set()
        self.refused = set()        # 5xx or too many attempts
        self.attempts = collections.Counter()
        self.met = collections.Counter()    # '4xx', 'closed': restart seen
        self.errors = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.client, daemon=True)
                        for _ in range(CLIENTS)]

    def release(self, numbers):
        for n in numbers:
            self.todo.put(n)

    def resolved(self):
        with self.lock:
            return len(self.accepted) + len(self.refused)

    def again(self, n, why):
        with self.lock:
            self.met[why] += 1
            if self.attempts[n] >= MAX_ATTEMPTS:
                self.refused.add(n)
                return
        self.todo.put(n)

    def client(self):
        s = None
        sent = 0
        while not self.done.is_set():
            try:
                n = self.todo.get(timeout=0.1)
            except queue.Empty:
                continue
            with self.lock:
                self.attempts[n] += 1
            try:
                if s is None:
                    s = smtplib.SMTP('127.0.0.1', self.port, timeout=30)
                    s.ehlo('client.test')
                    sent = 0
                s.sendmail('sender@x.test', ['user%d@example.org' % (n % 5)],
                           message(n))
            except smtplib.SMTPResponseException as e:
                code = e.smtp_code
            except smtplib.SMTPRecipientsRefused as e:
                code = list(e.recipients.values())[0][0]
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError,
                    OSError):
                code = None
            except Exception as e:      # a bug here: fail, not hang
                with self.lock:
                    self.errors.append(repr(e))
                code = None
            else:
                code = 250
            if code == 250:
                with self.lock:
                    if n in self.accepted:
                        self.errors.append('message %d accepted twice' % n)
                    self.accepted.add(n)
                sent += 1
                if sent >= PER_CONNECTION:
                    self.close(s)
                    s = None
                continue
            self.close(s)
            s = None
            if code is not None and 500 <= code < 600:
                with self.lock:
                    self.refused.add(n)
            else:
                self.again(n, 'closed' if code is None else '4xx')
        self.close(s)

    @staticmethod
    def close(s):
        if s is None:
            return
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            try:
                s.close()
            except OSError:
                pass


class BehindHAProxy(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-haproxy-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o755)       # HAProxy as user haproxy, chrooted
        self.spool = os.path.join(self.tmp, 'spool')
        self.d = []
        for name in ('a', 'b'):
            d = Daemon(['hostname %s.mx.test' % name,
                        'maildir %s/%%d/%%u' % self.spool,
                        'proxy_from 127.0.0.1/32'],
                       listen=['127.0.0.1:{port} proxy'])
            self.addCleanup(d.cleanup)
            self.d.append(d)
        for d in self.d:
            d.start()

    def haproxy(self, replace=()):
        h = HAProxy(self.tmp, [d.port for d in self.d], replace)
        self.addCleanup(h.stop)
        return h

    def stored(self):
        """Message number -> [instances that stored it]."""
        out = collections.defaultdict(list)
        parser = email.parser.BytesHeaderParser()
        for path in all_new_files(self.spool):
            with open(path, 'rb') as f:
                msg = parser.parse(f)
            m = re.fullmatch(r'<(\d+)\.haproxy-run@x\.test>', msg['Message-ID'] or '')
            self.assertIsNotNone(m, 'unexpected file %s' % path)
            by = re.search(r'by (\S+)', msg['Received'] or '')
            out[int(m.group(1))].append(by.group(1) if by else '?')
        return out

    def test_restart_behind_haproxy(self):
        h = self.haproxy()
        self.assertTrue(wait_for(lambda: h.status() == {'smtpd1': 'UP', 'smtpd2': 'UP'}, 10),
                        'health checks do not pass: %r\n%s' % (h.status(), h.output()))
        run = Run(h.port)
        for t in run.threads:
            t.start()
        self.addCleanup(run.done.set)
        start = time.monotonic()
        left = lambda: DEADLINE - (time.monotonic() - start)  # noqa: E731

        # Phase 1: traffic to both; instance a stopped after 500 have
        # been accepted, with up to 300 more under way.
        run.release(range(0, 800))
        self.assertTrue(wait_for(lambda: run.resolved() >= 500, left()),
                        'phase 1 stalled: %d resolved' % run.resolved())
        a = self.d[0]
        self.assertEqual(a.stop(), 0, a.stderr())
        first_log = a.stderr(10 ** 7)
        self.assertTrue(wait_for(lambda: h.status().get('smtpd1') == 'DOWN', 10),
                        'HAProxy did not notice the stopped instance: %r' % h.status())

        # Phase 2: 500 more with a down.
        run.release(range(800, 1300))
        self.assertTrue(wait_for(lambda: run.resolved() >= 1300, left()),
                        'phase 2 stalled: %d resolved' % run.resolved())

        # Phase 3: a back (same port, same spool), then the rest.
        a.start()
        self.assertTrue(wait_for(lambda: h.status().get('smtpd1') == 'UP', 10),
                        'restarted instance not UP again: %r' % h.status())
        run.release(range(1300, MESSAGES))
        self.assertTrue(wait_for(lambda: run.resolved() >= MESSAGES, left()),
                        'run stalled: %d of %d resolved' % (run.resolved(), MESSAGES))
        run.done.set()
        for t in run.threads:
            t.join(10)
        self.assertEqual(run.errors, [])

        stored = self.stored()
        twice = {n: by for n, by in stored.items() if len(by) > 1}
        self.assertEqual(twice, {}, 'stored more than once (a lost 250?)')
        self.assertEqual(sorted(run.accepted - set(stored)), [],
                         'got 250 but not stored')
        self.assertEqual(sorted(set(stored) - run.accepted), [],
                         'stored without a 250')
        self.assertEqual(sorted(run.refused & set(stored)), [])
        # Nothing here is refused for good: every message arrived once.
        self.assertEqual(len(run.accepted), MESSAGES,
                         'not accepted: %r (attempts %r)' % (
                             sorted(run.refused)[:20],
                             {n: run.attempts[n] for n in sorted(run.refused)[:20]}))

        # The clients connected to a when it stopped met 421s or closed
        # connections, and sent those messages again.
        self.assertGreater(sum(run.met.values()), 0,
                           'no client met the restart')
        self.assertIn('stopping on signal 15', first_log)
        # Both instances delivered, the restarted one too.
        hosts = collections.Counter(by[0] for by in stored.values())
        self.assertGreater(hosts['a.mx.test'], 0, hosts)
        self.assertGreater(hosts['b.mx.test'], 0, hosts)
        self.assertGreater(a.stderr(10 ** 7).count('result=delivered'), 0,
                           'the restarted instance took no traffic')
        # The real client address reached smtpd through the PROXY header.
        self.assertIn('client=[127.0.0.1]', a.stderr(10 ** 7))
        for d in self.d:
            d.stop_and_check()
            self.assertNotRegex(d.stderr(10 ** 7), SANITIZER_RE)
        print('\n    haproxy run: %d accepted in %.1fs, %r met the restart, by %r'
              % (len(run.accepted), time.monotonic() - start, dict(run.met),
                 dict(hosts)), file=sys.stderr)

    def test_health_check_without_proxy_header_fails(self):
        """The check reaches a proxy listener with a PROXY header
        (send-proxy-v2 implies it for checks on the traffic port; the
        shipped check-send-proxy keeps it with a check port): both UP.
        Without the header, smtpd waits for one and never greets: both
        DOWN. So the shipped check really tests the greeting."""
        h = self.haproxy(replace=[
            (r'(?m)^(\tserver smtpd\d 127\.0\.0\.1:(\d+))$', r'\1 port \2', 2)])
        self.assertTrue(wait_for(lambda: h.status() == {'smtpd1': 'UP', 'smtpd2': 'UP'},
                                 10), 'status %r' % h.status())
        h.stop()
        h = self.haproxy(replace=[
            (r'(?m)^(\tdefault-server .*) check-send-proxy', r'\1'),
            (r'(?m)^(\tserver smtpd\d 127\.0\.0\.1:(\d+))$', r'\1 port \2', 2),
            (r'(?m)^\ttimeout check 5s$', '\ttimeout check 300ms')])
        self.assertTrue(wait_for(lambda: h.status() == {'smtpd1': 'DOWN', 'smtpd2': 'DOWN'},
                                 15), 'status %r' % h.status())
        # smtpd saw connections without a header and refused them.
        self.assertTrue(wait_for(lambda: 'proxy header refused' in self.d[0].stderr(10 ** 6),
                                 10), self.d[0].stderr())

if __name__ == '__main__':
    unittest.main()
