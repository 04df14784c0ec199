"""
test_names_logs.py - maildir file names under a long hostname, and what
client bytes may become in the daemon's log.
"""

import os
import re
import smtplib
import threading
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


if __name__ == '__main__':
    unittest.main()
