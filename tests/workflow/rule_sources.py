"""What each workflow rule hashes, the job graph, and which rules a one-module edit reaches.

Run by test_reruns.py in its own process, with PYTHONPATH set to a copy of the
package that it may edit:

    python rule_sources.py CONFIG WORKDIR OUT MODULE...

It loads the workflow once (Snakemake's API, CONFIG, an empty WORKDIR),
recording which modules each call of ``difftn.infra.provenance.source_hash`` hashed
(the call still returns the real hash, which the rule keeps as its
``source_hash`` param).  Then, for each MODULE (a file relative to the package
copy's root, e.g. ``difftn/linalg/svd.py``), it appends a comment to that file,
recomputes every rule's hash with the real ``source_hash`` and records the rules
whose hash changed, and restores the file.  OUT (JSON) gets:

``rules``    rule -> {"modules": hashed modules or null, "stage": the difftn command it runs or null}
``jobs``     job id -> rule, and ``edges`` [upstream job, downstream job], of the whole
             job graph (``--forceall``)
``changed``  MODULE -> rules whose source_hash the edit changed
"""

import contextlib
import io
import json
import sys
from pathlib import Path

import difftn.infra.provenance as provenance


def main(config, workdir, out, modules):
    real_source_hash = provenance.source_hash
    hashed = {}  # hash value -> modules it was computed from

    def recording_source_hash(*names):
        value = real_source_hash(*names)
        hashed.setdefault(value, set()).add(tuple(sorted(set(names))))
        return value

    # The rule files import source_hash from difftn.infra.provenance while they are parsed.
    provenance.source_hash = recording_source_hash

    from snakemake.settings.types import DAGSettings
    from workflow_api import loaded_workflow

    with loaded_workflow(config, workdir) as workflow_api:
        rules = {}
        for rule in workflow_api._workflow.rules:
            value = dict(rule.params.items()).get("source_hash")
            if value is not None and len(hashed.get(value, ())) != 1:
                raise RuntimeError(f"rule {rule.name}: its source_hash {value!r} was not computed once by source_hash")
            stage = dict(rule.params.items()).get("stage")
            rules[rule.name] = {"modules": None if value is None else list(next(iter(hashed[value]))),
                                "stage": stage}  # fmt: skip
        graph = io.StringIO()
        with contextlib.redirect_stdout(graph):
            workflow_api.dag(DAGSettings(forceall=True)).printd3dag()
    dag = json.loads(graph.getvalue())

    def hashes():
        return {name: real_source_hash(*rule["modules"]) for name, rule in rules.items() if rule["modules"]}

    root = Path(provenance.__file__).resolve().parents[2]
    before, changed = hashes(), {}
    for module in modules:
        path = root / module
        original = path.read_bytes()
        try:
            path.write_bytes(original + b"\n# an edit\n")
            changed[module] = sorted(name for name, value in hashes().items() if value != before[name])
        finally:
            path.write_bytes(original)
    if hashes() != before:
        raise RuntimeError("the package copy did not return to its original sources")

    result = {
        "package_root": str(root),
        "rules": rules,
        "jobs": {str(node["id"]): node["value"]["rule"] for node in dag["nodes"]},
        "edges": [[edge["u"], edge["v"]] for edge in dag["edges"]],
        "changed": changed,
    }
    Path(out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
