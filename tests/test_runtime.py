"""Where and how a stage computes: the peak memory it records."""

import subprocess
import sys

from difftn.infra.runtime import peak_memory_mb


def test_peak_memory_is_the_programs_own_not_its_parents():
    # Linux carries ru_maxrss over from the parent through fork and exec: a stage that
    # Snakemake (torch loaded) or a pytest worker starts reported at least their size.
    ballast = b"\x01" * (1024 * 2**20)  # 1 GiB resident here while the child runs
    child = subprocess.run([sys.executable, "-c", "from difftn.infra.runtime import peak_memory_mb; "
                            "print(peak_memory_mb())"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert child.returncode == 0, child.stderr
    assert peak_memory_mb() > 1024  # this process holds the ballast
    assert float(child.stdout) < 700, child.stdout  # the child imports torch: measured 0.22 GB
    del ballast
