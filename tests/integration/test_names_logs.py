"""
test_names_logs.py - maildir file names under a long hostname, and what
client bytes may become in the daemon's log.
"""

import os
import re
import smtplib
import threading
import time
import unittest

from harness import DaemonTestCase, HELO, IO_TIMEOUT

NAME_MAX = 255          # a file name component on Linux file systems
HOST_PART_MAX = 194     # NAME_MAX less the other fields at their longest


def long_hostname(n):
    """A valid host name of n octets: labels of at most 63 characters."""
    labels, left = [], n
    while left > 0:
        size = min(63, left)
        labels.append(''.join(chr(ord('a') + (len(labels) + i) % 26)
                              for i in range(size)))
        left -= size + 1
    name = '.'.join(labels)
    assert len(name) == n, len(name)
    return name


HOST253 = long_hostname(253)


class LongHostname(DaemonTestCase):
    """hostname at 253 octets: every message is stored under a name of
    its own that a file system takes (the host part shortened, with a
    hash of the whole host name)."""

    extra_config = ('hostname ' + HOST253,)
    MESSAGES = 30

    def send(self, n, failures):
        try:
            with smtplib.SMTP('127.0.0.1', self.port, local_hostname=HELO,
                              timeout=IO_TIMEOUT) as s:
                for i in range(n):
                    s.sendmail('a@x.test', ['user@example.org'],
                               b'Subject: %d\r\n\r\nbody\r\n' % i)
        except Exception as e:      # noqa: BLE001 - reported by the test
            failures.append(repr(e))

    def test_thirty_messages_unique_names(self):
        # Three clients at once, ten messages each: same second, same pid.
        failures = []
        threads = [threading.Thread(target=self.send,
                                    args=(self.MESSAGES // 3, failures))
                   for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        new = os.path.join(self.maildir_path('user'), 'new')
        names = os.listdir(new)
        self.assertEqual(len(names), self.MESSAGES)
        self.assertEqual(len(set(names)), self.MESSAGES)
        for name in names:
            self.assertLess(len(name.encode()), 256, name)
            self.assertRegex(name, r'^\d+\.M\d{6}P\d+Q\d+R[0-9a-f]{8}\.')
            host = name.split('.', 2)[2]
            self.assertRegex(host, r'#[0-9a-f]{16}$')
            self.assertLessEqual(len(host), HOST_PART_MAX)
            self.assertTrue(HOST253.startswith(host[:-17]), host)
        self.assertEqual(len({n.split('.', 2)[2] for n in names}), 1)
        self.assertEqual(os.listdir(os.path.join(self.maildir_path('user'), 'tmp')), [])

    def test_greeting_names_the_whole_host(self):
        c = self.raw(greeting=False)
        r = c.expect(220)
        self.assertEqual(r.lines[0].split()[0], HOST253)



def terminal_unsafe(line):
    """Why line (bytes, without its newline) could upset a terminal or a
    log reader: not UTF-8, or a C0, DEL or C1 character; None if safe."""
    try:
        text = line.decode('utf-8')
    except UnicodeDecodeError as e:
        return 'not UTF-8: %s' % e
    m = re.search('[\x00-\x1f\x7f-\x9f]', text)
    return 'control character U+%04X' % ord(m.group()) if m else None


class LogBytes(DaemonTestCase):
    """Client bytes in commands reach the log only as valid UTF-8 text
    without a control character (8-bit, ill-formed and C1 bytes as \\xHH)."""

    def log_lines(self):
        with open(self.daemon.errlog, 'rb') as f:
            return f.read().split(b'\n')[:-1]

    def assertLogSafe(self):
        for line in self.log_lines():
            why = terminal_unsafe(line)
            self.assertIsNone(why, '%s in log line %r' % (why, line))

    def test_8bit_command_is_escaped(self):
        c = self.raw()
        c.send(b'FOO \x9b[2J \xc2\x9b \xed\xa0\x80 \xc0\x80 gr\xc3\xbc\xc3\x9fe\r\n')
        c.expect(500)
        c.cmd('QUIT')
        self.assertTrue(c.is_closed())
        self.assertLogSafe()
        line = [l for l in self.log_lines() if 'grüße'.encode() in l]
        self.assertEqual(len(line), 1, self.log_lines())
        for want in (rb'\x9b[2J', rb'\xc2\x9b', rb'\xed\xa0\x80', rb'\xc0\x80',
                     'grüße'.encode()):
            self.assertIn(want, line[0])

    def test_every_byte_in_commands(self):
        c = self.raw()
        junk = bytes(b for b in range(1, 256) if b not in (10, 13))
        for i in range(0, len(junk), 16):
            c.send(b'FOO ' + junk[i:i + 16] + b'\r\n')
            c.read_reply()
        c.send(b'HELO \x9b\xff\r\nMAIL FROM:<"\x9b\x1b"@x.test>\r\n')
        c.read_reply()
        c.read_reply()
        c.send(b'QUIT\r\n')
        c.replies_until_close()
        self.assertLogSafe()


if __name__ == '__main__':
    unittest.main()


def kv_fields(line):
    """A log line's key=value fields, values quoted ("..." with \\" and
    \\\\) or bare; a parser that trusts the quotes as log tools do."""
    out = []
    for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        out.append((m.group(1), m.group(2)))
    return out


class LogFields(DaemonTestCase):
    """Client text cannot add fields to a log line (a quoted local part
    with spaces and key=value text inside, quotes and backslashes, a C1
    byte in the EHLO name)."""

    FORGED = '"x> to=<ceo@example.org> result=delivered"@evil.test'

    def message_line(self, needle):
        deadline = time.monotonic() + 5
        while True:
            lines = [l for l in self.daemon.stderr(1 << 20).splitlines()
                     if needle in l and ' id=' in l]
            if lines:
                return lines[-1]
            self.assertLess(time.monotonic(), deadline, self.daemon.stderr())
            time.sleep(0.02)

    def test_quoted_local_part_stays_one_value(self):
        c = self.raw()
        c.ehlo('we\\ird"helo')
        c.send('MAIL FROM:<%s>\r\nRCPT TO:<nobody@other.test>\r\n'
               'RCPT TO:<real@example.org>\r\nDATA\r\n' % self.FORGED)
        c.expect(250)
        c.expect(550)
        c.expect(250)
        c.expect(354)
        c.send(b'Subject: f\r\n\r\nx\r\n.\r\n')
        c.expect(250)
        line = self.message_line('result=delivered')
        fields = kv_fields(line)
        keys = [k for k, _ in fields]
        self.assertEqual(keys.count('result'), 1, line)
        self.assertEqual(keys.count('to'), 0, line)
        d = dict(fields)
        self.assertEqual(d['result'], 'delivered')
        # the recipient is on the line of its copy
        copy = self.message_line('to="<real@example.org>"')
        cf = kv_fields(copy)
        self.assertEqual([k for k, _ in cf].count('to'), 1, copy)
        self.assertEqual(dict(cf)['status'], 'stored')
        self.assertEqual(dict(cf)['id'], d['id'])
        self.assertEqual(d['from'], '"<\\"x> to=<ceo@example.org> result=delivered\\"@evil.test>"')
        self.assertEqual(d['helo'], '"we\\\\ird\\"helo"')
        reject = [l for l in self.daemon.stderr(1 << 20).splitlines()
                  if 'reject code=550' in l][-1]
        rf = kv_fields(reject)
        self.assertEqual([k for k, _ in rf].count('command'), 1, reject)
        self.assertEqual(dict(rf)['command'], '"RCPT TO:<nobody@other.test>"')

    def test_c1_byte_escaped(self):
        c = self.raw()
        c.send(b'EHLO a\xc2\x9bb.test\r\n')
        c.expect(250)
        c.send(b'MAIL FROM:<\x9b@x.test> SMTPUTF8\r\n')
        c.read_reply()
        c.send(b'QUIT\r\n')
        c.read_reply()
        deadline = time.monotonic() + 5
        while 'disconnect' not in self.daemon.stderr(1 << 20):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        with open(self.daemon.errlog, 'rb') as f:
            raw = f.read()
        self.assertNotIn(b'\x9b', raw)
        self.assertNotIn(b'\xc2\x9b', raw)
        self.assertIn(b'helo="a\\xc2\\x9bb.test"', raw)
