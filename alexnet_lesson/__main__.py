"""``python -m alexnet_lesson …`` runs the command line (see :mod:`alexnet_lesson.cli`)."""

from alexnet_lesson.cli import main

raise SystemExit(main())
