"""``python -m taskexec_nb.cli``: the ``taskexec`` command."""

import sys

from taskexec_nb.cli import main

sys.exit(main())
