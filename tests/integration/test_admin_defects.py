"""
test_admin_defects.py - regressions for defects in configuration loading,
reloading, the listener and socket activation: each test failed on the
code before its fix.
"""

import os
import shutil
import tempfile
import unittest

from harness import free_port, run_smtpd


class ConfigFile(unittest.TestCase):
    """A configuration file in a private directory, checked with -n."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='smtpd-defect-')
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, lines, name='smtpd.conf'):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        return path

    def base(self):
        return ['listen 127.0.0.1:%d' % free_port(), 'hostname mx.test',
                'domain example.org', 'maildir %s/spool/%%d/%%u' % self.tmp]

    def check(self, lines):
        """(path, exit status, stderr) of smtpd -n on lines."""
        path = self.write(lines)
        p = run_smtpd(['-n', '-f', path])
        return path, p.returncode, p.stderr.decode('utf-8', 'replace')


class MaxRecipientsBound(ConfigFile):
    """Each recipient's copy is an open file during DATA: the configuration
    accepts only what works end to end (test_limits runs 1000)."""

    def test_1001_refused_naming_file_line_and_range(self):
        path, rc, err = self.check(self.base() + ['max_recipients 1001'])
        self.assertEqual(rc, 1, err)
        self.assertIn('%s:5:' % path, err)
        self.assertIn('1..1000', err)

    def test_1000_accepted(self):
        path, rc, err = self.check(self.base() + ['max_recipients 1000'])
        self.assertEqual(rc, 0, err)


if __name__ == '__main__':
    unittest.main()
