"""
test_esmtp.py - the extensions a final MX offers, checked where the
other files do not: SMTPUTF8 validity, SIZE across BDAT chunks, DSN
parameters in the log, IPv6 clients and address-literal domains.
"""

import socket
import unittest

from harness import (DaemonTestCase, RawClient, read_new, split_trace, body_of,
                     ipv6_loopback_available, HELO)


class Esmtp(DaemonTestCase):
    extra_config = ['domain [127.0.0.1]', 'max_message_size 2000',
                    'listen [::1]:{port}']

    def session(self, family=socket.AF_INET, host='127.0.0.1'):
        c = RawClient(self.daemon.port, host=host, family=family)
        c.cmd('EHLO ' + HELO)
        return c

    def test_utf8_addresses_with_smtputf8_delivered(self):
        c = self.session()
        c.envelope(rcpts=('\u00e5sa@example.org',), mail_from='j\u00f6rg@x.test',
                   mail_params=' SMTPUTF8', helo=None, pipelined=False)
        c.cmd('DATA')
        c.send('Subject: hej\r\n\r\nhall\u00e5\r\n.\r\n'.encode())
        c.expect(250)
        msgs = read_new(self.daemon.maildir_path('\u00e5sa'))
        self.assertEqual(len(msgs), 1)
        rp, received, body = split_trace(msgs[0])
        self.assertEqual(rp.encode('latin-1').decode(), 'Return-Path: <j\u00f6rg@x.test>')
        self.assertIn('with UTF8SMTP', received)
        self.assertEqual(body, 'Subject: hej\n\nhall\u00e5\n'.encode())

    def test_invalid_utf8_refused_even_with_smtputf8(self):
        c = self.session()
        for bad in (b'\xc3(', b'\xed\xa0\x80', b'\xc0\xaf', b'\xf8\x88\x80\x80\x80'):
            c.send(b'MAIL FROM:<a' + bad + b'@x.test> SMTPUTF8\r\n')
            r = c.read_reply()
            self.assertEqual(r.code, 501, bad)
        c.cmd('MAIL FROM:<a@x.test> SMTPUTF8')
        c.send(b'RCPT TO:<\xe5sa@example.org>\r\n')   # Latin-1, not UTF-8
        self.assertEqual(c.read_reply().code, 501)

    def test_size_declared_too_big_refused_at_mail(self):
        c = self.session()
        r = c.cmd('MAIL FROM:<a@x.test> SIZE=2001')
        self.assertEqual((r.code, r.enhanced), (552, '5.3.4'))
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test> SIZE=100').code, 250)

    def test_declared_size_is_not_trusted(self):
        c = self.session()
        c.envelope(rcpts=('liar@example.org',), mail_params=' SIZE=10', helo=None,
                   pipelined=False)
        c.cmd('DATA')
        c.send(b'x' * 990 + b'\r\n' + b'y' * 990 + b'\r\n' + b'z' * 100 + b'\r\n.\r\n')
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (552, '5.3.4'))
        self.assertEqual(read_new(self.daemon.maildir_path('liar')), [])

    def test_bdat_size_counted_across_chunks(self):
        c = self.session()
        c.envelope(rcpts=('chunky@example.org',), mail_params=' BODY=BINARYMIME',
                   helo=None, pipelined=False)
        c.send(b'BDAT 1500\r\n' + b'a' * 1500)
        c.expect(250)
        c.send(b'BDAT 600 LAST\r\n' + b'b' * 600)
        r = c.read_reply()
        self.assertEqual((r.code, r.enhanced), (552, '5.3.4'))
        self.assertEqual(read_new(self.daemon.maildir_path('chunky')), [])
        self.assertEqual(c.cmd('NOOP').code, 250)     # still in step

    def test_binary_bytes_kept_by_bdat(self):
        c = self.session()
        payload = bytes(range(256)).replace(b'\r', b'').replace(b'\n', b'')
        c.envelope(rcpts=('bin@example.org',), mail_params=' BODY=BINARYMIME',
                   helo=None, pipelined=False)
        c.send(b'BDAT %d LAST\r\n' % len(payload) + payload)
        c.expect(250)
        self.assertEqual(body_of(read_new(self.daemon.maildir_path('bin'))[0]), payload)

    def test_dsn_parameters_recorded_in_log(self):
        c = self.session()
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test> RET=HDRS ENVID=QQ314159').code, 250)
        self.assertEqual(c.cmd('RCPT TO:<dsn@example.org> NOTIFY=SUCCESS,DELAY '
                               'ORCPT=rfc822;dsn+2Bx@example.org').code, 250)
        c.cmd('DATA')
        c.send(b'x\r\n.\r\n')
        c.expect(250)
        log = self.daemon.stderr(100000)
        self.assertIn('to="<dsn@example.org>" orig_to="<dsn@example.org>" status=stored ', log)
        self.assertIn(' notify=SUCCESS,DELAY orcpt="rfc822;dsn+2Bx@example.org"', log)
        self.assertIn('envid="QQ314159" ret=HDRS', log)

    def test_bad_dsn_parameters_refused(self):
        c = self.session()
        self.assertEqual(c.cmd('MAIL FROM:<a@x.test> RET=ALL').code, 555)
        c.cmd('MAIL FROM:<a@x.test>')
        self.assertEqual(c.cmd('RCPT TO:<d@example.org> NOTIFY=NEVER,SUCCESS').code, 555)
        self.assertEqual(c.cmd('RCPT TO:<d@example.org> ORCPT=nosemicolon').code, 555)
        # xtext: a '+' must start a hex pair (RFC 3461 4)
        self.assertEqual(c.cmd('RCPT TO:<d@example.org> ORCPT=rfc822;a+b@x').code, 555)

    def test_address_literal_domain(self):
        c = self.session()
        c.envelope(rcpts=('lit@[127.0.0.1]',), mail_from='a@[192.0.2.1]', helo=None,
                   pipelined=False)
        self.assertEqual(c.cmd('RCPT TO:<lit@[127.0.0.2]>').code, 550)
        c.cmd('DATA')
        c.send(b'x\r\n.\r\n')
        c.expect(250)
        self.assertEqual(len(read_new(self.daemon.maildir_path('lit', '[127.0.0.1]'))), 1)

    @unittest.skipUnless(ipv6_loopback_available(), 'no IPv6 loopback')
    def test_ipv6_client_in_received(self):
        c = self.session(socket.AF_INET6, '::1')
        self.assertIn('[IPv6:::1]', c.cmd('EHLO [IPv6:::1]').text)
        c.envelope(rcpts=('six@example.org',), helo=None, pipelined=False)
        c.cmd('DATA')
        c.send(b'x\r\n.\r\n')
        c.expect(250)
        received = split_trace(read_new(self.daemon.maildir_path('six'))[0])[1]
        self.assertIn('from [IPv6:::1] ([IPv6:::1])', received)


if __name__ == '__main__':
    unittest.main()
