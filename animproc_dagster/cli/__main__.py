"""`python -m animproc_dagster.cli`: the `animproc` command."""
import sys

from animproc_dagster.cli import main

sys.exit(main())
