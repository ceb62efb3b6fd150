"""Send a script's logging and warnings to the rule's log file."""

import logging
import sys


def to_log(snakemake):
    handle = open(snakemake.log[0], "w") if snakemake.log else sys.stderr
    sys.stderr = handle
    logging.basicConfig(stream=handle, level=logging.INFO, format="%(asctime)s %(message)s", force=True)
    logging.captureWarnings(True)
    return logging.getLogger("difftn.workflow")
