"""Concurrent writers for the tests of all-or-nothing publishing (tests/net/test_files.py, tests/cli/
test_reliability.py): two child processes whose publishing overlaps for certain, not by luck."""
import subprocess
import sys

# A child process that paces its publishing the way a loaded machine may. Every writer first waits until
# all have arrived (a file per writer in SYNC) — on its first folder lock or, unlocked, its first rename —
# and then FIRST seconds more; after its first rename, each further one comes GAP seconds after the last.
# Writer A (FIRST 0, GAP 0.5) holds its three renames apart; writer B (FIRST 0.1, GAP 0) would fit all of
# its own between A's first and second rename unless something makes it wait.
PACED_RENAMES = '''
import fcntl, os, sys, time
sync, writers, first, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
real_replace, real_flock, renames, arrived = os.replace, fcntl.flock, [], []

def arrive():
    if not arrived:
        arrived.append(True)
        open(os.path.join(sync, str(os.getpid())), "w").close()
        while len(os.listdir(sync)) < writers:
            time.sleep(0.01)
        time.sleep(first)

def paced_flock(fd, operation):
    if operation == fcntl.LOCK_EX:
        arrive()
    return real_flock(fd, operation)

def paced_replace(src, dst):
    if renames:
        time.sleep(gap)
    arrive()
    renames.append(dst)
    return real_replace(src, dst)

fcntl.flock, os.replace = paced_flock, paced_replace
sys.argv = sys.argv[4:]
'''


def paced_writers(tmp_path, script: str, args_a: list, args_b: list) -> None:
    """Run writer A and writer B (see PACED_RENAMES) at once and wait for both."""
    sync = tmp_path / f"sync{len(list(tmp_path.glob('sync*')))}"
    sync.mkdir()
    children = [subprocess.Popen([sys.executable, "-c", script, str(sync), "2", first, gap, *map(str, args)])
                for first, gap, args in (("0", "0.5", args_a), ("0.1", "0", args_b))]
    for child in children:
        assert child.wait(timeout=300) == 0
