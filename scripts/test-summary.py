#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Sum meson's testlog.json files into one closing line:
'N passed, N failed, N skipped'.  Exit 1 if anything failed."""

import json
import sys


def main():
    passed = failed = skipped = 0
    for path in sys.argv[1:]:
        try:
            with open(path, encoding='utf-8') as f:
                for line in f:
                    if not line.strip():
                        continue
                    result = json.loads(line).get('result')
                    if result in ('OK', 'EXPECTEDFAIL'):
                        passed += 1
                    elif result == 'SKIP':
                        skipped += 1
                    else:
                        failed += 1
        except FileNotFoundError:
            print('missing test log %s' % path, file=sys.stderr)
            failed += 1
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
