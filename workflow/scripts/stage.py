"""The one Snakemake adapter: run a rule's stage as the ``difftn`` command, with the same checks.

A rule names its stage (``params.stage``, e.g. "ising point") and its options
(``params.options``: option name -> value, as ``difftn <stage> --help`` lists
them).  Named inputs become ``--name FILE`` (a list: several files), the other
inputs positional files; the output ``png``/``nc`` (or the first) is ``--out``,
an output ``csv`` is ``--csv``.  The command's log goes to the rule's log file.
"""

import sys

from difftn.cli import STAGES, main, stage_argv

sm = snakemake  # noqa: F821
if sm.log:
    sys.stderr = open(sm.log[0], "w")  # the command logs (and warns) on stderr
stage = sm.params.stage
study, name = stage.split()[:2]
named = {key: sm.input[key] for key in sm.input.keys()}
flat_named = {f for v in named.values() for f in ([v] if isinstance(v, str) else v)}
positional = [f for f in sm.input if f not in flat_named]
outputs = dict(sm.output.items())
out = outputs.get("png", outputs.get("nc", sm.output[0]))
compute = STAGES[study][name].writes in ("dataset", "itself")
argv = stage_argv(stage, sm.params.get("options", {}), inputs=positional, named_inputs=named, out=out,
                  csv=outputs.get("csv"), threads=sm.threads if compute else None)  # fmt: skip
print("difftn", " ".join(argv), file=sys.stderr, flush=True)
sys.exit(main(argv))
