"""Configured limits: recipients, size, timeouts, clients, errors, greeting delay."""

import select
import socket
import time
import unittest

from harness import IO_TIMEOUT, DaemonTestCase, RawClient, body_of


class SourcedClient(RawClient):
    """A RawClient on 127.0.0.1 whose socket is bound to source first:
    Linux routes all of 127/8 on lo, so 127.0.0.2 is another client
    address on the same machine."""

    def __init__(self, port, source, greeting=True, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''
        self.transcript = []
        self.greeting = self.expect(220) if greeting else None


class MaxRecipients(DaemonTestCase):
    extra_config = ['max_recipients 3']

    def test_excess_recipient_rejected(self):
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n')
        c.expect(250)
        for i in range(3):
            c.send('RCPT TO:<u%d@example.org>\r\n' % i)
            c.expect(250, '2.1.5')
        c.send('RCPT TO:<u3@example.org>\r\n')
        c.expect(452, '4.5.3')
        c.send('DATA\r\n')
        c.expect(354)
        c.send('x\r\n.\r\n')
        c.expect(250, '2.0.0')
        for i in range(3):
            self.assertOneMessage('u%d' % i)
        self.assertEqual(self.messages('u3'), [])

    def test_limit_is_per_transaction(self):
        c = self.raw()
        c.ehlo()
        for t in range(2):
            r = self.send_raw(b'x\r\n', client=c,
                              rcpts=['t%d.%d@example.org' % (t, i) for i in range(3)])
            self.assertEqual(r.code, 250, r)
        self.assertEqual(len(self.all_messages()), 6)


class MaxRecipientsHighest(DaemonTestCase):
    # The highest value the configuration accepts works end to end: every
    # recipient's copy is an open file until the message is in new/.
    extra_config = ['max_recipients 1000', 'fsync no']

    def test_thousand_recipients_one_message(self):
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<a@x.test>\r\n' +
               ''.join('RCPT TO:<r%04d@example.org>\r\n' % i for i in range(1001)))
        c.expect(250, '2.1.0')
        for i in range(1000):
            c.expect(250, '2.1.5')
        c.expect(452, '4.5.3')
        # DATA makes 1000 maildirs and opens a file in each: seconds on
        # a loaded machine, so the 354 gets the same minute as the 250.
        c.settimeout(60)
        c.send('DATA\r\n')
        c.expect(354)
        c.send(b'Subject: many\r\n\r\nx\r\n.\r\n')
        c.expect(250, '2.0.0')
        self.assertEqual(len(self.all_messages()), 1000)


class MaxMessageSize(DaemonTestCase):
    extra_config = ['max_message_size 1000']

    def test_ehlo_advertises_size(self):
        r = self.raw().ehlo()
        self.assertIn('SIZE 1000', [l.strip().upper() for l in r.lines[1:]])

    def test_size_parameter_over_limit(self):
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<a@b> SIZE=1001\r\n')
        c.expect(552, '5.3.4')
        # no transaction was opened
        c.send('RCPT TO:<user@example.org>\r\n')
        c.expect(503, '5.5.1')

    def test_size_parameter_huge(self):
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<a@b> SIZE=99999999999999999999999\r\n')
        r = c.read_reply()
        self.assertIn(r.code, (501, 552), r)

    def test_size_parameter_within_limit(self):
        c = self.raw()
        c.ehlo()
        c.send('MAIL FROM:<a@b> SIZE=500\r\n')
        c.expect(250, '2.1.0')

    def test_small_body_delivered(self):
        r = self.send_raw(b'Subject: s\r\n\r\n' + b'y' * 200 + b'\r\n')
        self.assertEqual(r.code, 250, r)
        self.assertOneMessage('user')

    def test_size_boundary(self):
        # RFC 1870: the size counts every octet with CRLF as 2, without
        # the final .CRLF; exactly the limit is fine, one more is not.
        c = self.raw()
        c.ehlo()
        r = self.send_raw(b'x' * 998 + b'\r\n', client=c)
        self.assertEqual(r.code, 250, r)
        r = self.send_raw(b'x' * 999 + b'\r\n', client=c)
        self.assertEqual((r.code, r.enhanced), (552, '5.3.4'), r)
        self.assertEqual(len(self.messages('user')), 1)

    def test_body_over_limit(self):
        c = self.raw()
        c.ehlo()
        r = self.send_raw(b'Subject: big\r\n\r\n' + b'z' * 2000 + b'\r\n', client=c)
        self.assertEqual((r.code, r.enhanced), (552, '5.3.4'), r)
        self.assertEqual(self.all_messages(), {})
        # the session is still in step and usable
        r = self.send_raw(b'small\r\n', client=c)
        self.assertEqual(r.code, 250, r)
        self.assertEqual(body_of(self.assertOneMessage('user')), b'small\n')

    def test_body_far_over_limit(self):
        c = self.raw()
        c.ehlo()
        body = b''.join(b'line %05d .....................................\r\n' % i
                        for i in range(5000))
        r = self.send_raw(body, client=c)
        self.assertEqual((r.code, r.enhanced), (552, '5.3.4'), r)
        self.assertEqual(self.all_messages(), {})
        c.send('NOOP\r\n')
        c.expect(250)

    def test_size_lie_still_checked(self):
        c = self.raw()
        c.ehlo()
        r = self.send_raw(b'z' * 3000 + b'\r\n', client=c, mail_params=' SIZE=10')
        self.assertEqual((r.code, r.enhanced), (552, '5.3.4'), r)
        self.assertEqual(self.all_messages(), {})


class IdleTimeout(DaemonTestCase):
    extra_config = ['timeout 1']

    def test_idle_client_disconnected(self):
        c = self.raw()
        t0 = time.monotonic()
        c.settimeout(5)
        c.expect(421, '4.4.2')
        self.assertTrue(c.is_closed(3))
        self.assertLess(time.monotonic() - t0, 4.5)

    def test_partial_line_times_out(self):
        c = self.raw()
        c.ehlo()
        c.send('NOO')
        c.settimeout(5)
        c.expect(421, '4.4.2')
        self.assertTrue(c.is_closed(3))

    def test_dripped_line_times_out(self):
        # A byte every 0.3 s never lets a read time out, but the whole
        # line must arrive within the timeout (1 s, counted in whole
        # seconds): the 421 comes long before the drip would end.
        c = self.raw()
        c.ehlo()
        t0 = time.monotonic()
        for ch in 'NOOP NOOP NOOP NOOP':
            readable, _, _ = select.select([c.sock], [], [], 0.3)
            if readable:
                break
            c.send(ch)
        self.assertLess(time.monotonic() - t0, 4.5)
        c.settimeout(5)
        c.expect(421, '4.4.2')
        self.assertTrue(c.is_closed(3))

    def test_active_client_not_disconnected(self):
        c = self.raw()
        for _ in range(4):
            time.sleep(0.5)
            c.send('NOOP\r\n')
            c.expect(250)


class DataTimeout(DaemonTestCase):
    extra_config = ['timeout 30', 'data_timeout 1']

    def test_stalled_data_disconnected(self):
        c = self.raw()
        c.start_data()
        c.send('Subject: stalled\r\n\r\npartial')
        c.settimeout(5)
        r = c.read_reply()
        self.assertEqual(r.code, 421, r)
        self.assertTrue(c.is_closed(3))
        self.assertEqual(self.all_messages(), {})


class MaxClients(DaemonTestCase):
    extra_config = ['max_clients 2']

    def greeted(self):
        """Connect until greeted with 220: slots of the previous test's
        connections are freed asynchronously."""
        deadline = time.monotonic() + 3
        while True:
            c = self.raw(greeting=False)
            r = c.read_reply()
            if r.code == 220:
                return c
            c.close()
            if time.monotonic() > deadline:
                self.fail('no 220 greeting within 3s, last reply %r' % r)
            time.sleep(0.1)

    def test_third_client_refused(self):
        a = self.greeted()
        b = self.greeted()
        c = self.raw(greeting=False)
        c.expect(421)
        self.assertTrue(c.is_closed(3))
        # the first two still work
        for x in (a, b):
            x.send('NOOP\r\n')
            x.expect(250)

    def test_slot_freed_after_quit(self):
        a = self.greeted()
        b = self.greeted()
        a.send('QUIT\r\n')
        a.expect(221)
        self.assertTrue(a.is_closed(3))
        self.greeted()
        b.send('NOOP\r\n')
        b.expect(250)


class MaxClientsPerIpThree(DaemonTestCase):
    extra_config = ['max_clients_per_ip 3']

    def test_fourth_refused_other_address_served(self):
        held = [self.raw() for _ in range(3)]
        c = self.raw(greeting=False)
        r = c.expect(421, '4.7.0')
        self.assertIn('Too many connections from your address', r.text)
        self.assertTrue(c.is_closed(3))
        other = SourcedClient(self.port, '127.0.0.2')
        self.addCleanup(other.close)
        self.assertEqual(other.cmd('NOOP').code, 250)
        for h in held:
            self.assertEqual(h.cmd('NOOP').code, 250)
        # Closing one frees its slot (given back just after the close).
        held[0].cmd('QUIT')
        self.assertTrue(held[0].is_closed(3))
        deadline = time.monotonic() + 3
        while True:
            c = self.raw(greeting=False)
            r = c.read_reply()
            if r.code == 220 or time.monotonic() > deadline:
                break
            c.close()
            time.sleep(0.05)
        self.assertEqual(r.code, 220, r)


class MaxClientsPerIp(DaemonTestCase):
    extra_config = ['max_clients_per_ip 1']

    def test_second_connection_from_same_ip_refused(self):
        a = self.raw()
        b = self.raw(greeting=False)
        r = b.read_reply()
        self.assertEqual(r.code, 421, r)
        self.assertTrue(b.is_closed(3))
        a.send('NOOP\r\n')
        a.expect(250)


class MaxErrors(DaemonTestCase):
    extra_config = ['max_errors 3']

    def test_disconnect_after_errors(self):
        c = self.raw()
        c.ehlo()
        c.send('XYZZY\r\n')
        c.expect(500, '5.5.2')
        c.send('XYZZY\r\n')
        c.expect(500, '5.5.2')
        c.send('XYZZY\r\n')
        replies = c.replies_until_close()
        codes = [r.code for r in replies]
        self.assertIn(421, codes, replies)
        self.assertEqual(codes[-1], 421, replies)
        self.assertTrue(c.is_closed(3))

    def test_good_commands_do_not_count(self):
        c = self.raw()
        c.ehlo()
        for _ in range(2):
            c.send('XYZZY\r\n')
            c.expect(500)
        for _ in range(5):
            c.send('NOOP\r\n')
            c.expect(250)


class GreetingDelay(DaemonTestCase):
    extra_config = ['greeting_delay 1']

    def test_early_talker_rejected(self):
        c = self.raw(greeting=False)
        c.send('EHLO client.test\r\n')
        c.settimeout(5)
        r = c.read_reply()
        self.assertEqual(r.code, 554, r)
        self.assertTrue(c.is_closed(3))

    def test_patient_client_greeted(self):
        t0 = time.monotonic()
        c = self.raw(greeting=False)
        c.settimeout(5)
        c.expect(220)
        self.assertGreaterEqual(time.monotonic() - t0, 0.8)
        c.ehlo()


if __name__ == '__main__':
    unittest.main()
