"""The factor that scales the integration tests' limits: from the measured workload time and the load per core."""

from __future__ import annotations

import pytest

from tests.helpers.machine import MAX_FACTOR, REFERENCE_S, MachineSpeed, limit_note, machine_speed, scaled


def test_an_idle_box_as_fast_as_the_reference_keeps_the_limits() -> None:
    assert MachineSpeed(workload_s=REFERENCE_S, load=0.5, cores=2).factor == 1.0
    assert MachineSpeed(workload_s=REFERENCE_S / 3, load=0.0, cores=16).factor == 1.0  # never below the reference


def test_the_slower_of_workload_and_load_sets_the_factor_up_to_the_cap() -> None:
    assert MachineSpeed(workload_s=2 * REFERENCE_S, load=1.0, cores=2).factor == pytest.approx(2.0)
    assert MachineSpeed(workload_s=REFERENCE_S, load=5.0, cores=2).factor == pytest.approx(2.5)
    assert MachineSpeed(workload_s=40 * REFERENCE_S, load=90.0, cores=2).factor == MAX_FACTOR


def test_a_measured_session_scales_and_explains_its_limits() -> None:
    speed = machine_speed()
    assert machine_speed() is speed, "measured once per session"
    assert speed.workload_s > 0 and speed.cores >= 1
    assert scaled(600) == pytest.approx(600 * speed.factor)
    note = limit_note(600)
    assert f"{scaled(600):.0f} s = 600 s × {speed.factor:.2f}" in note
    assert "slower than the reference" in note and f"on {speed.cores} cores" in note
