"""
test_admin_tools.py - the administrator's command-line tools, run without
a daemon: smtpd -q ADDRESS (where mail for an address would go),
smtpd -n -v (the effective configuration, written back as smtpd.conf
text) and what smtpd -n checks beyond the file (the user, a directory).
The formats tested here are the ones smtpd(8) documents.
"""

import os
import pwd
import re
import shutil
import tempfile
import unittest

from harness import REPO_ROOT, free_port, run_smtpd

# Every directive of smtpd.conf(5); each must appear in smtpd -n -v, as
# a line or (when unset) a comment naming it.
DIRECTIVES = ('listen', 'proxy_from', 'hostname', 'domain', 'mailbox',
              'recipient_delimiter', 'maildir', 'fsync', 'bare_newline', 'user',
              'max_message_size', 'max_recipients', 'max_clients',
              'max_clients_per_ip', 'max_errors', 'max_junk_commands', 'timeout',
              'data_timeout', 'transaction_timeout', 'greeting_delay',
              'dnsbl', 'dnsbl_threshold', 'resolver', 'dns_timeout',
              'reverse_dns', 'allow', 'error_delay', 'max_connection_rate',
              'max_message_rate',
              'policy_server', 'policy_timeout', 'policy_failure',
              'policy_end_of_data', 'metrics', 'xclient_from',
              'milter', 'milter_timeout', 'milter_failure')

NO_SUCH_USER = 'smtpd-no-such-user'


def text(b):
    return b.decode('utf-8', 'replace')


class Tool(unittest.TestCase):
    """A private directory for configuration files."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-tools-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.spool = os.path.join(self.tmp, 'spool')
        self.n = 0

    def write(self, lines):
        self.n += 1
        path = os.path.join(self.tmp, 'c%d.conf' % self.n)
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def base(self):
        return ['listen 127.0.0.1:%d' % free_port(), 'hostname mx.test',
                'domain example.org', 'maildir %s/%%d/%%u' % self.spool]

    def supported(self, line):
        """The parser takes line (a failure, never a skip)."""
        p = run_smtpd(['-n', '-f', self.write(self.base() + [line])])
        self.assertEqual(p.returncode, 0, text(p.stderr))


class Query(Tool):
    """smtpd -q ADDRESS: exit 0 accepted, 1 refused, 2 usage or config
    error. Accepted: "ADDRESS: accepted", then "  -> MAILBOX  PATH" per
    copy (and "  (via alias SOURCE)"); refused: "ADDRESS: refused: CODE
    ESC TEXT"."""

    def setUp(self):
        super().setUp()
        self.conf = self.write(self.base() + [
            'domain open.test',
            'mailbox alice@example.org',
            'mailbox bob@example.org',
            'recipient_delimiter +',
        ])

    def q(self, address, conf=None, rc=None):
        p = run_smtpd(['-q', address, '-f', conf or self.conf])
        out, err = text(p.stdout), text(p.stderr)
        if rc is not None:
            self.assertEqual(p.returncode, rc, 'exit %s for %r\nstdout: %s\nstderr: %s'
                             % (p.returncode, address, out, err))
        return out, err

    def box(self, local, domain='example.org'):
        return os.path.join(self.spool, domain, local)

    def assertAccepted(self, address, copies, conf=None):
        """copies: [(mailbox, maildir path)]."""
        out, err = self.q(address, conf, rc=0)
        lines = out.splitlines()
        self.assertEqual(lines[0], '%s: accepted' % address)
        self.assertEqual(lines[1:1 + len(copies)],
                         ['  -> %s  %s' % c for c in copies])
        self.assertEqual(err, '')
        return lines[1 + len(copies):]

    def assertRefused(self, address, reply, conf=None):
        out, err = self.q(address, conf, rc=1)
        self.assertEqual(out, '%s: refused: %s\n' % (address, reply))

    def test_listed_mailbox(self):
        rest = self.assertAccepted('alice@example.org',
                                   [('alice@example.org', self.box('alice'))])
        self.assertEqual(rest, [])

    def test_angle_brackets_optional(self):
        self.assertAccepted('<alice@example.org>',
                            [('alice@example.org', self.box('alice'))])

    def test_case_folded(self):
        self.assertAccepted('Alice@EXAMPLE.org',
                            [('alice@example.org', self.box('alice'))])

    def test_unrestricted_domain(self):
        self.assertAccepted('anyone@open.test',
                            [('anyone@open.test', self.box('anyone', 'open.test'))])

    def test_unknown_user(self):
        self.assertRefused('carol@example.org',
                           '550 5.1.1 Recipient address rejected: User unknown')

    def test_other_domain(self):
        self.assertRefused('x@other.test', '550 5.7.1 Relay access denied')

    def test_postmaster(self):
        # A restricted domain without a postmaster line still takes it
        # (RFC 5321 4.5.1); a bare <postmaster> is the first domain's.
        for a in ('postmaster@example.org', 'postmaster', '<postmaster>',
                  'PostMaster@example.org'):
            self.assertAccepted(a, [('postmaster@example.org', self.box('postmaster'))])

    def test_plus_extension(self):
        # Without extension_folders the extension reaches the INBOX.
        self.assertAccepted('alice+lists@example.org',
                            [('alice@example.org', self.box('alice'))])
        self.assertAccepted('anyone+x@open.test',
                            [('anyone@open.test', self.box('anyone', 'open.test'))])

    def test_extension_of_unknown_user(self):
        self.assertRefused('carol+x@example.org',
                           '550 5.1.1 Recipient address rejected: User unknown')

    def test_without_delimiter_extension_is_part_of_name(self):
        conf = self.write(self.base() + ['mailbox alice@example.org'])
        self.assertRefused('alice+x@example.org',
                           '550 5.1.1 Recipient address rejected: User unknown', conf)

    def test_unsafe_local_part(self):
        for a in ('a/b@open.test', '"../x"@open.test'):
            self.assertRefused(a, '550 5.1.3 Recipient local part cannot name a mailbox')

    def test_bad_address_is_refused(self):
        # What RCPT TO would answer: refused (1), not a usage error (2).
        for a in ('a b@example.org', '<alice@example.org', '<alice@example.org>x',
                  '', '<>', '@example.org', 'x@-bad-.test', 'a' * 300 + '@example.org'):
            self.assertRefused(a, '501 5.1.3 Bad recipient address syntax')

    def test_utf8_as_with_smtputf8(self):
        self.assertAccepted('jos\u00e9@open.test',
                            [('jos\u00e9@open.test', self.box('jos\u00e9', 'open.test'))])

    def test_relative_template_is_absolute(self):
        conf = self.write(self.base()[:3] + ['maildir rel-spool/%d/%u'])
        self.assertAccepted('x@example.org', [
            ('x@example.org', os.path.join(REPO_ROOT, 'rel-spool', 'example.org', 'x'))],
            conf)
        self.assertFalse(os.path.exists(os.path.join(REPO_ROOT, 'rel-spool')))

    def test_touches_nothing(self):
        self.assertAccepted('alice@example.org',
                            [('alice@example.org', self.box('alice'))])
        self.assertFalse(os.path.exists(self.spool))

    def test_usage_errors_exit_2(self):
        for args in (['-q'], ['-q', 'a@example.org', '-n'], ['-q', 'a@example.org', '-d'],
                     ['-q', 'a@example.org', '-p', os.path.join(self.tmp, 'pid')],
                     ['-q', 'a@example.org', 'extra']):
            p = run_smtpd(args + ['-f', self.conf])
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(b'usage:', p.stderr)
            self.assertEqual(p.stdout, b'')

    def test_config_errors_exit_2(self):
        bad = self.write(self.base() + ['bogus 1'])
        for conf, msg in ((bad, '%s:5:' % bad),
                          (os.path.join(self.tmp, 'missing.conf'), 'missing.conf'),
                          (self.tmp, 'is a directory')):
            out, err = self.q('alice@example.org', conf, rc=2)
            self.assertEqual(out, '')
            self.assertIn(msg, err)

    def test_alias(self):
        self.supported('alias postmaster@example.org alice@example.org')
        conf = self.write(self.base() + [
            'mailbox alice@example.org', 'mailbox bob@example.org',
            'alias postmaster@example.org alice@example.org bob@example.org'])
        rest = self.assertAccepted('postmaster@example.org', [
            ('alice@example.org', self.box('alice')),
            ('bob@example.org', self.box('bob'))], conf)
        self.assertEqual(rest, ['  (via alias postmaster@example.org)'])

    def test_extension_folder(self):
        self.supported('extension_folders yes')
        conf = self.write(self.base() + ['recipient_delimiter +', 'extension_folders yes'])
        self.assertAccepted('alice+lists@example.org', [
            ('alice@example.org', os.path.join(self.box('alice'), '.lists'))], conf)


class Print(Tool):
    """smtpd -n -v: "FILE: configuration OK", then the configuration."""

    def show(self, conf):
        p = run_smtpd(['-n', '-v', '-f', conf])
        self.assertEqual(p.returncode, 0, text(p.stderr))
        self.assertEqual(p.stderr, b'')
        lines = text(p.stdout).splitlines(True)
        self.assertEqual(lines[0], '%s: configuration OK\n' % conf)
        return ''.join(lines[1:])

    def roundtrip(self, lines):
        """The printed text, loaded again, prints the same text."""
        first = self.show(self.write(lines))
        again = self.write([first.rstrip('\n')])
        self.assertEqual(self.show(again), first)
        return first

    def test_without_v_only_ok(self):
        conf = self.write(self.base())
        p = run_smtpd(['-n', '-f', conf])
        self.assertEqual(p.returncode, 0, text(p.stderr))
        self.assertEqual(text(p.stdout), '%s: configuration OK\n' % conf)

    def test_defaults_shown(self):
        out = self.roundtrip(self.base())
        for line in ('max_junk_commands 100', 'max_clients_per_ip 50',
                     'max_message_size 10485760', 'max_recipients 100',
                     'max_clients 1000', 'max_errors 20', 'timeout 300',
                     'data_timeout 300', 'transaction_timeout 3600',
                     'greeting_delay 0', 'fsync yes', 'bare_newline reject',
                     'hostname mx.test', 'domain example.org',
                     'maildir %s/%%d/%%u' % self.spool):
            self.assertRegex(out, '(?m)^%s$' % re.escape(line))
        # Unset settings are comments naming them.
        for line in ('dnsbl_threshold 1', 'dns_timeout 5', 'error_delay 0',
                     'reverse_dns no', 'max_connection_rate 0',
                     'max_message_rate 0'):
            self.assertRegex(out, '(?m)^%s$' % re.escape(line))
        for kw in ('user', 'recipient_delimiter', 'dnsbl', 'resolver', 'allow'):
            self.assertRegex(out, '(?m)^# %s\\b' % kw)
            self.assertNotRegex(out, '(?m)^%s\\b' % kw)

    def test_every_directive(self):
        out = self.roundtrip(self.base())
        for kw in DIRECTIVES:
            self.assertRegex(out, '(?m)^(# )?%s\\b' % kw, kw)

    def test_all_set_roundtrip(self):
        user = pwd.getpwuid(os.getuid()).pw_name
        port = free_port()
        out = self.roundtrip([
            'listen 127.0.0.1:%d' % port,
            'listen [::1]:%d proxy' % port,
            'listen *:%d' % (port + 1 if port < 65535 else port - 1),
            'proxy_from 10.0.0.0/8',
            'proxy_from 192.0.2.1',
            'proxy_from 2001:db8::/32',
            'hostname MX.Example.ORG',
            'domain Example.ORG', 'domain open.test',
            'mailbox Alice@example.org', 'mailbox bob@example.org',
            'recipient_delimiter -',
            'maildir %s/%%d/%%u/Maildir' % self.spool,
            'fsync no', 'bare_newline keep', 'user %s' % user,
            'max_message_size 1048576', 'max_recipients 7', 'max_clients 9',
            'max_clients_per_ip 0', 'max_errors 3', 'max_junk_commands 0',
            'timeout 60', 'data_timeout 120', 'transaction_timeout 600',
            'greeting_delay 2',
            'dnsbl Zen.Spamhaus.org=127.0.0.[2..11],127.0.0.20*3',
            'dnsbl list.dnswl.org=127.0.[0..255].[1..3]*-2',
            'dnsbl_threshold 2', 'resolver [::1]:5353', 'dns_timeout 3',
            'reverse_dns yes', 'allow 192.0.2.0/24', 'allow 2001:db8::/48',
            'error_delay 1', 'max_connection_rate 60', 'max_message_rate 30',
            'xclient_from 127.0.0.1', 'xclient_from 2001:db8::/64',
            'policy_server unix:/run/postgrey.sock',
            'policy_server inet:127.0.0.1:10023', 'policy_timeout 5',
            'policy_failure dunno', 'policy_end_of_data yes',
            'milter unix:/run/opendkim.sock', 'milter inet:[::1]:11332',
            'milter_timeout 60', 'milter_failure accept',
            'metrics 127.0.0.1:%d' % free_port(),
        ])
        expect = [
            'listen 127.0.0.1:%d' % port, 'listen [::1]:%d proxy' % port,
            'proxy_from 10.0.0.0/8', 'proxy_from 192.0.2.1/32',
            'proxy_from 2001:db8::/32', 'hostname MX.Example.ORG',
            'domain example.org', 'domain open.test',
            'mailbox alice@example.org', 'mailbox bob@example.org',
            'recipient_delimiter -', 'maildir %s/%%d/%%u/Maildir' % self.spool,
            'fsync no', 'bare_newline keep', 'user %s' % user,
            'max_message_size 1048576', 'max_recipients 7', 'max_clients 9',
            'max_clients_per_ip 0', 'max_errors 3', 'max_junk_commands 0',
            'timeout 60', 'data_timeout 120', 'transaction_timeout 600',
            'greeting_delay 2',
            'dnsbl zen.spamhaus.org=127.0.0.[2..11],127.0.0.20*3',
            'dnsbl list.dnswl.org=127.0.[0..255].[1..3]*-2',
            'dnsbl_threshold 2', 'resolver [::1]:5353', 'dns_timeout 3',
            'reverse_dns yes', 'allow 192.0.2.0/24', 'allow 2001:db8::/48',
            'error_delay 1', 'max_connection_rate 60', 'max_message_rate 30',
            'xclient_from 127.0.0.1/32', 'xclient_from 2001:db8::/64',
            'policy_server unix:/run/postgrey.sock',
            'policy_server inet:127.0.0.1:10023', 'policy_timeout 5',
            'policy_failure dunno', 'policy_end_of_data yes',
            'milter unix:/run/opendkim.sock', 'milter inet:[::1]:11332',
            'milter_timeout 60', 'milter_failure accept']
        for line in expect:
            self.assertRegex(out, '(?m)^%s$' % re.escape(line))
        self.assertRegex(out, r'(?m)^listen \*:\d+$')
        self.assertRegex(out, r'(?m)^metrics 127\.0\.0\.1:\d+$')

    def test_data_timeout_follows_timeout(self):
        out = self.roundtrip(self.base() + ['timeout 42'])
        self.assertRegex(out, '(?m)^data_timeout 42$')

    def test_unset_hostname_stays_unset(self):
        out = self.roundtrip([l for l in self.base() if not l.startswith('hostname')])
        self.assertRegex(out, '(?m)^# hostname\\b')
        self.assertNotRegex(out, '(?m)^hostname\\b')

    def test_relative_template_printed_absolute(self):
        out = self.roundtrip(self.base()[:3] + ['maildir rel-spool/%d/%u'])
        self.assertRegex(out, '(?m)^maildir %s$'
                         % re.escape(os.path.join(REPO_ROOT, 'rel-spool/%d/%u')))

    def test_alias_roundtrip(self):
        self.supported('alias postmaster@example.org alice@example.org')
        out = self.roundtrip(self.base() + [
            'mailbox alice@example.org', 'mailbox bob@example.org',
            'alias postmaster@example.org alice@example.org bob@example.org'])
        self.assertRegex(out, '(?m)^alias postmaster@example.org '
                              'alice@example.org bob@example.org$')

    def test_extension_folders_roundtrip(self):
        self.supported('extension_folders yes')
        out = self.roundtrip(self.base() + ['recipient_delimiter +',
                                            'extension_folders yes'])
        self.assertRegex(out, '(?m)^extension_folders yes$')


class Check(Tool):
    """What smtpd -n checks beyond the file itself."""

    def test_missing_user(self):
        conf = self.write(self.base() + ['user ' + NO_SUCH_USER])
        p = run_smtpd(['-n', '-f', conf])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, b'')
        self.assertIn('user %s: no such user' % NO_SUCH_USER, text(p.stderr))

    def test_existing_user(self):
        user = pwd.getpwuid(os.getuid()).pw_name
        p = run_smtpd(['-n', '-f', self.write(self.base() + ['user ' + user])])
        self.assertEqual(p.returncode, 0, text(p.stderr))

    def test_directory(self):
        for args in (['-n'], ['-n', '-v'], ['-d']):
            p = run_smtpd(args + ['-f', self.tmp], timeout=5)
            self.assertEqual(p.returncode, 1, args)
            self.assertEqual(text(p.stderr), '%s: is a directory\n' % self.tmp)
            self.assertEqual(p.stdout, b'')


if __name__ == '__main__':
    unittest.main()
