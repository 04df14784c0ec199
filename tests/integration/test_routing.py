"""
test_routing.py - what each stored copy says and where it goes:
Return-Path: and Delivered-To: are ours, a client's Return-Path: is
dropped, a Delivered-To: naming one of our mailboxes is a mail loop.
"""

import unittest

from harness import DaemonTestCase, delivered_to, split_trace


class TraceHeaders(DaemonTestCase):

    def test_delivered_to_names_the_mailbox(self):
        r = self.send_raw(b'Subject: s\r\n\r\nx\r\n',
                          rcpts=('Alice@Example.org', 'bob+tag@example.org'))
        self.assertEqual(r.code, 250)
        self.assertEqual(delivered_to(self.assertOneMessage('alice')), 'alice@example.org')
        # Without recipient_delimiter, bob+tag is a mailbox of its own.
        self.assertEqual(delivered_to(self.assertOneMessage('bob+tag')),
                         'bob+tag@example.org')

    def test_client_return_path_is_dropped(self):
        body = (b'Return-Path: <forged@evil.test>\r\n'
                b'Subject: s\r\n'
                b'RETURN-PATH  : <folded@evil.test>\r\n'
                b'\tcontinued@evil.test\r\n'
                b'X-Kept: yes\r\n'
                b'\r\n'
                b'Return-Path: in the body stays\r\n')
        self.assertEqual(self.send_raw(body, rcpts=('carol@example.org',)).code, 250)
        raw = self.assertOneMessage('carol')
        rp, _, rest = split_trace(raw)
        self.assertEqual(rp, 'Return-Path: <a@x.test>')
        self.assertNotIn(b'evil.test', raw)
        self.assertEqual(rest, b'Subject: s\nX-Kept: yes\n\nReturn-Path: in the body stays\n')

    def test_return_path_dropped_across_chunks_and_copies(self):
        # BDAT chunks cut inside the header, two copies (headers written
        # to each file, not kept in the body buffer).
        c = self.raw()
        c.envelope(rcpts=('d1@example.org', 'd2@example.org'))
        msg = b'Subject: t\r\nReturn-Path: <x@evil.test>\r\nX-A: 1\r\n\r\nbody\r\n'
        cuts = [0, 5, 20, 21, len(msg)]
        for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
            last = b' LAST' if i == len(cuts) - 2 else b''
            c.send(b'BDAT %d%s\r\n' % (b - a, last) + msg[a:b])
            c.expect(250)
        for box in ('d1', 'd2'):
            rest = split_trace(self.assertOneMessage(box))[2]
            self.assertEqual(rest, b'Subject: t\nX-A: 1\n\nbody\n')

    def test_delivered_to_ours_is_a_loop(self):
        body = b'Delivered-To: Eve@Example.ORG\r\nSubject: loop\r\n\r\nagain\r\n'
        r = self.send_raw(body, rcpts=('frank@example.org', 'eve@example.org'))
        self.assertEqual((r.code, r.enhanced), (554, '5.4.6'), r)
        self.assertEqual(self.all_messages(), {})

    def test_delivered_to_elsewhere_is_kept(self):
        body = b'Delivered-To: someone@other.test\r\nSubject: fwd\r\n\r\nx\r\n'
        self.assertEqual(self.send_raw(body, rcpts=('gina@example.org',)).code, 250)
        rest = split_trace(self.assertOneMessage('gina'))[2]
        self.assertTrue(rest.startswith(b'Delivered-To: someone@other.test\n'), rest)

    def test_delivered_to_in_body_is_no_loop(self):
        body = b'Subject: quoted\r\n\r\nDelivered-To: hank@example.org\r\n'
        self.assertEqual(self.send_raw(body, rcpts=('hank@example.org',)).code, 250)


if __name__ == '__main__':
    unittest.main()
