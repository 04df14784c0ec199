"""Command line options, config checking (-n), listening, SIGTERM."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (Daemon, DaemonTestCase, RawClient, free_port,
                     ipv6_loopback_available, require_bin, run_smtpd, body_of,
                     read_new, REPO_ROOT)


class ConfigCheck(unittest.TestCase):
    """smtpd -n -f FILE."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-conf-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.n = 0

    def write(self, lines):
        self.n += 1
        path = os.path.join(self.tmp, 'c%d.conf' % self.n)
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def base(self):
        return ['listen 127.0.0.1:%d' % free_port(), 'hostname mx.test',
                'domain example.org', 'maildir %s/spool/%%d/%%u' % self.tmp]

    def check(self, lines):
        path = self.write(lines)
        p = run_smtpd(['-n', '-f', path])
        return path, p.returncode, p.stderr.decode('utf-8', 'replace')

    def assertInvalidAt(self, lines, lineno):
        path, rc, err = self.check(lines)
        self.assertEqual(rc, 1, 'exit %s for invalid config; stderr: %r' % (rc, err))
        self.assertIn('%s:%d:' % (path, lineno), err)
        return err

    def test_valid_config(self):
        path, rc, err = self.check(self.base())
        self.assertEqual(rc, 0, err)

    def test_valid_config_all_directives(self):
        lines = ['# full config', ''] + self.base() + [
            'listen [::1]:%d' % free_port(),
            '   # indented comment',
            'domain Example.NET',
            'mailbox alice@example.org',
            'mailbox bob@example.org',
            'max_message_size 1048576',
            'max_recipients 50',
            'max_clients 10',
            'max_clients_per_ip 2',
            'max_errors 5',
            'max_junk_commands 10',
            'timeout 60',
            'data_timeout 120',
            'bare_newline keep',
            'recipient_delimiter +',
            'fsync no',
            '',
        ]
        path, rc, err = self.check(lines)
        self.assertEqual(rc, 0, err)

    def test_screening_directives(self):
        path, rc, err = self.check(self.base() + [
            'dnsbl zen.spamhaus.org*3', 'dnsbl list.dnswl.org=127.0.[0..255].[1..3]*-2',
            'dnsbl_threshold 3', 'resolver 127.0.0.1:5353', 'dns_timeout 2',
            'allow 10.0.0.0/8', 'error_delay 1', 'max_connection_rate 10',
            'max_message_rate 5', 'reverse_dns yes'])
        self.assertEqual(rc, 0, err)
        for line, msg in (('dnsbl zen.spamhaus.org=127.0.0.[9..2]', 'dnsbl'),
                          ('resolver ::1', 'not an IPv4 address'),
                          ('allow 10.0.0.0/40', 'expected ADDRESS'),
                          ('reverse_dns 1', 'expected yes or no'),
                          ('dns_timeout 0', 'out of range')):
            err = self.assertInvalidAt(self.base() + [line], 5)
            self.assertIn(msg, err)

    def test_wildcard_listen(self):
        path, rc, err = self.check(self.base() + ['listen *:25'])
        self.assertEqual(rc, 0, err)

    def test_unknown_keyword(self):
        lines = self.base()
        lines.insert(2, 'frobnicate yes')
        self.assertInvalidAt(lines, 3)

    def test_bad_number(self):
        for bad in ('max_recipients abc', 'timeout 12x', 'max_message_size -5',
                    'max_clients', 'max_errors 99999999999999999999999'):
            with self.subTest(line=bad):
                self.assertInvalidAt(self.base() + [bad], 5)

    def test_duplicate_hostname(self):
        self.assertInvalidAt(self.base() + ['hostname other.test'], 5)

    def test_duplicate_single_valued(self):
        for line in ('max_recipients 5', 'timeout 5', 'maildir /tmp/x'):
            with self.subTest(line=line):
                self.assertInvalidAt(self.base() + [line, line], 6)

    def test_listen_without_port(self):
        self.assertInvalidAt(['listen 127.0.0.1'] + self.base()[1:], 1)

    def test_listen_bad_port(self):
        for bad in ('listen 127.0.0.1:99999', 'listen 127.0.0.1:', 'listen 127.0.0.1:http'):
            with self.subTest(line=bad):
                self.assertInvalidAt(self.base() + [bad], 5)

    def test_missing_value(self):
        self.assertInvalidAt(self.base() + ['domain'], 5)

    def test_bad_enum_values(self):
        for bad in ('bare_newline maybe', 'fsync perhaps'):
            with self.subTest(line=bad):
                self.assertInvalidAt(self.base() + [bad], 5)

    def test_all_errors_reported(self):
        lines = self.base() + ['bogus 1', 'max_recipients x', '# fine', 'hostname again.test']
        path, rc, err = self.check(lines)
        self.assertEqual(rc, 1, err)
        for n in (5, 6, 8):
            self.assertIn('%s:%d:' % (path, n), err)
        self.assertNotIn('%s:7:' % path, err)

    def test_comments_and_blank_lines(self):
        lines = ['# comment', '', '   ', '\t# another'] + self.base()
        path, rc, err = self.check(lines)
        self.assertEqual(rc, 0, err)

    def test_missing_file(self):
        p = run_smtpd(['-n', '-f', os.path.join(self.tmp, 'nonexistent.conf')])
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(p.stderr.strip())

    def test_daemon_refuses_bad_config(self):
        path = self.write(self.base() + ['bogus 1'])
        p = run_smtpd(['-d', '-f', path], timeout=5)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('%s:5:' % path, p.stderr.decode('utf-8', 'replace'))


class CommandLine(unittest.TestCase):

    def test_help(self):
        p = run_smtpd(['-h'])
        self.assertEqual(p.returncode, 0)
        self.assertIn('usage', (p.stdout + p.stderr).decode().lower())

    def test_version(self):
        p = run_smtpd(['-V'])
        self.assertEqual(p.returncode, 0)
        self.assertRegex((p.stdout + p.stderr).decode(), r'\d+\.\d+')

    def test_unknown_option(self):
        p = run_smtpd(['-Z'])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('usage', p.stderr.decode().lower())


class Listening(DaemonTestCase):
    shared_daemon = False

    def two_socket_daemon(self):
        """A daemon listening on two ports; (daemon, the second port)."""
        other = free_port()
        d = Daemon(listen=['127.0.0.1:{port}', '127.0.0.1:%d' % other])
        self.addCleanup(d.cleanup)
        d.start()
        self.addCleanup(d.stop_and_check)
        d.wait_listening(other)
        return d, other

    def test_two_listen_lines(self):
        d, other = self.two_socket_daemon()
        for port in (d.port, other):
            c = RawClient(port)
            self.addCleanup(c.close)
            c.ehlo()

    def test_both_sockets_served_while_sessions_are_held_and_after(self):
        # With every earlier session still open each client needs a new
        # thread; once they close, parked threads are handed the next
        # clients, on either socket.
        d, other = self.two_socket_daemon()
        for round_ in range(2):
            held = []
            for i in range(12):
                c = RawClient((d.port, other)[i % 2])
                self.addCleanup(c.close)
                c.ehlo()
                held.append(c)
            for c in held:
                c.send('QUIT\r\n')
                c.expect(221)
                c.close()
        c = RawClient(other)
        self.addCleanup(c.close)
        c.start_data()
        c.send('last\r\n.\r\n')
        c.expect(250)
        self.assertEqual(len(read_new(d.maildir_path('user'))), 1)

    @unittest.skipUnless(ipv6_loopback_available(), 'no IPv6 loopback')
    def test_ipv6_listen(self):
        port = free_port(socket.AF_INET6, '::1')
        d = Daemon(listen=['[::1]:%d' % port])
        self.addCleanup(d.cleanup)
        d.start(wait_port=port)
        self.addCleanup(d.stop_and_check)
        c = RawClient(port, host='::1', family=socket.AF_INET6)
        self.addCleanup(c.close)
        c.start_data()
        c.send('v6\r\n.\r\n')
        c.expect(250)
        msgs = read_new(d.maildir_path('user'))
        self.assertEqual(len(msgs), 1)
        from harness import split_trace
        _, received, _ = split_trace(msgs[0])
        self.assertIn('::1]', received)


class Signals(DaemonTestCase):
    shared_daemon = False

    def test_sigterm_idle(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        self.assertEqual(d.stop(), 0, d.stderr())

    def test_sigterm_with_open_session(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.ehlo()
        t0 = time.monotonic()
        self.assertEqual(d.stop(), 0, d.stderr())
        self.assertLess(time.monotonic() - t0, 5)

    def test_sigterm_then_client_drops_mid_data(self):
        # A transaction in flight may be given time to finish after SIGTERM;
        # once its client goes away the daemon exits 0 and keeps nothing.
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.start_data()
        c.send('Subject: half\r\n\r\nnot finished\r\n')
        time.sleep(0.2)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        c.close()
        self.assertEqual(d.stop(), 0, d.stderr())
        self.assertEqual(read_new(d.maildir_path('user')), [])
        tmpdir = os.path.join(d.maildir_path('user'), 'tmp')
        self.assertEqual(os.listdir(tmpdir) if os.path.isdir(tmpdir) else [], [])

    def test_delivery_then_sigterm(self):
        d = Daemon()
        self.addCleanup(d.cleanup)
        d.start()
        c = RawClient(d.port)
        self.addCleanup(c.close)
        c.start_data()
        c.send('kept\r\n.\r\nQUIT\r\n')
        c.expect(250)
        c.expect(221)
        self.assertEqual(d.stop(), 0, d.stderr())
        self.assertEqual([body_of(m) for m in read_new(d.maildir_path('user'))], [b'kept\n'])


if __name__ == '__main__':
    unittest.main()
