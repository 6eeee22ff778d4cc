"""The command-line parts of flows.pools and flows.sweep: bad input is refused, naming what is wrong."""
from __future__ import annotations

import pytest

from flows.pools import limits
from flows.pools import main as pools_main
from flows.sweep import grid
from flows.sweep import main as sweep_main


def test_limits_parse_name_equals_a_whole_number():
    assert limits(["cpu=2", "gpu=1"]) == {"cpu": 2, "gpu": 1}
    for bad in ("gpu", "gpu=", "=1", "gpu=0", "gpu=-1", "gpu=one"):
        with pytest.raises(ValueError, match="NAME=LIMIT"):
            limits([bad])


def test_the_grid_is_every_combination_of_the_given_axes_in_order():
    assert grid({"model": ["a", "b"], "image_size": None, "epochs": [1, 2]}) == [
        {"model": "a", "epochs": 1}, {"model": "a", "epochs": 2},
        {"model": "b", "epochs": 1}, {"model": "b", "epochs": 2}]
    with pytest.raises(ValueError, match="nothing to sweep"):
        grid({"model": None, "image_size": [], "epochs": None})


@pytest.mark.parametrize("main, argv, says", [
    (pools_main, ["gpu=0"], "expected NAME=LIMIT"),
    (sweep_main, [], "nothing to sweep"),
    (sweep_main, ["--epochs", "two"], "invalid int value"),
    (sweep_main, ["--epochs", "1", "--parallel", "0"], "at least one run at a time"),
])
def test_bad_command_lines_exit_2_before_touching_the_api(main, argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and says in capsys.readouterr().err


def test_a_pools_template_fixes_directory_environment_and_command():
    from prefect.utilities.schema_tools import ValidationError, validate

    from flows.pools import job_template

    cpu, gpu = job_template("cpu", "/srv/checkout", "1,2"), job_template("gpu", "/srv/checkout", "1,2")
    assert cpu["job_configuration"]["env"] == {"CUDA_VISIBLE_DEVICES": "", "DVC_NO_ANALYTICS": "1"}
    assert gpu["job_configuration"]["env"] == {"CUDA_VISIBLE_DEVICES": "1,2", "DVC_NO_ANALYTICS": "1"}
    for template in (cpu, gpu):
        config = template["job_configuration"]
        assert config["working_dir"] == "/srv/checkout" and config["command"] is None
        assert "{{" not in repr(config)  # nothing a deployment or run could fill in
        # as the server checks a run's job variables (prefect/server/api/validation.py)
        validate({}, template["variables"], raise_on_error=True)
        for asked in ({"command": "id"}, {"working_dir": "/tmp"}, {"env": {"PYTHONPATH": "/tmp"}},
                      {"env.LD_PRELOAD": "/tmp/x.so"}, {"stream_output": False}):
            with pytest.raises(ValidationError, match="Additional properties are not allowed"):
                validate(asked, template["variables"], raise_on_error=True)


@pytest.mark.parametrize("argv, says", [
    (["--project-dir=relative/checkout"], "expected an absolute path"),
    (["--project-dir="], "expected an absolute path"),
    (["--gpu-devices=0\nX=1"], "a NUL or newline is not allowed"),
])
def test_a_bad_project_dir_or_gpu_devices_exits_2_before_touching_the_api(argv, says, capsys):
    with pytest.raises(SystemExit) as stop:
        pools_main(argv)
    assert stop.value.code == 2 and says in capsys.readouterr().err
