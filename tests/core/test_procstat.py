import subprocess
import sys
import time

from vvtvlib.core.procstat import tree_cpu_s


def test_a_busy_grandchild_counts_and_a_gone_pid_is_skipped() -> None:
    # a parent that only waits for a spinning child: the CPU is the child's
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "'import time\\nt = time.time()\\nwhile time.time() - t < 30: pass'])")])
    try:
        time.sleep(1.5)
        assert tree_cpu_s([parent.pid]) > 0.3
    finally:
        for child in __import__("psutil").Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
    assert tree_cpu_s([parent.pid]) == 0.0
