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
