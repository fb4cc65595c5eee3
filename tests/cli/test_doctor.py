"""`pt2caffe doctor`: where the reference Caffe is and how to import it, in the environment the pycaffe
worker gets."""
import os
import subprocess
import sys

from test_cli import run_cli


def test_doctor_imports_the_reference_caffe(capsys):
    code, out, _ = run_cli(["doctor"], capsys)
    assert code == 0
    assert "import caffe:    ok" in out and "export PYTHONPATH=" in out
    assert "built from:      stock SSD Caffe, weiliu89/caffe ssd 4817bf8b4200b35ada8ed0dc378dceaf38c539e4" in out


def test_doctor_imports_caffe_in_the_environment_run_pycaffe_gives_its_worker(capsys, monkeypatch):
    from pt2caffe.cli import doctor
    from pt2caffe.runtimes import launch

    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/some/lib")
    seen, real_run = [], subprocess.run

    def recording_run(*args, **kwargs):
        seen.append(kwargs["env"])
        return real_run(*args, **kwargs)

    monkeypatch.setattr(doctor.subprocess, "run", recording_run)
    assert run_cli(["doctor"], capsys)[0] == 0
    assert seen == [launch.worker_environment("caffe")] and seen[0]["LD_LIBRARY_PATH"] == "/opt/some/lib"


def test_caffe_importable_through_the_documented_path():
    from pt2caffe.runtimes.reference_caffe import caffe_pythonpath

    result = subprocess.run([sys.executable, "-c", "import caffe; print(caffe.Net.__name__)"],
                            env=dict(os.environ, PYTHONPATH=caffe_pythonpath(), GLOG_minloglevel="2"),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Net"
