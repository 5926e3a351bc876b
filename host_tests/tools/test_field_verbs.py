"""tools.field builds its commands from the meter's own verb table (service.VERBS): every
shell verb is offered, with the arguments the shell function takes."""
import inspect

import pytest

from tools import field


def test_every_verb_in_the_table_is_a_shell_function_with_those_parameters():
    from tools.shared.paths import use_firmware

    use_firmware()
    import service

    names = [name for name, _params, _json in service.VERBS]
    assert len(names) == len(set(names))
    public = {n for n, f in vars(service).items() if inspect.isfunction(f)
              and not n.startswith("_") and f.__module__ == "service"}
    helpers = {"readings_lines", "firmware_info"}  # used by status(), not verbs
    assert set(names) == public - helpers  # no verb missing from the table, none extra
    for name, params, takes_json in service.VERBS:
        signature = inspect.signature(getattr(service, name))
        accepted = set(signature.parameters)
        for param, _kind in params:
            assert param in accepted or any(
                p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()), \
                (name, param)
        assert ("json" in accepted) == takes_json, name


def test_calls_are_built_from_positional_and_named_arguments():
    table = field.verbs()
    call, copies = field.shell_call("calibrate", table["calibrate"][0],
                                    ["pf1", "v_ref=230", "i_ref=5.0"], True)
    assert call == "service.calibrate('pf1', v_ref=230.0, i_ref=5.0, json=True)"
    assert copies == []
    call, _ = field.shell_call("audit", table["audit"][0], ["12"], False)
    assert call == "service.audit(12)"
    call, _ = field.shell_call("comms", table["comms"][0], ["off"], True)
    assert call == "service.comms(False, json=True)"
    call, _ = field.shell_call("reboot", table["reboot"][0], [], False)
    assert call == "service.reboot()"


def test_files_on_this_computer_are_copied_onto_the_meter_first(tmp_path):
    table = field.verbs()
    policy = tmp_path / "policy-v1.bin"
    keys = tmp_path / "keys.json"
    policy.write_bytes(b"x")
    keys.write_text("{}")
    call, copies = field.shell_call("commission", table["commission"][0],
                                    [str(policy), str(keys), "broker.example:1883"], True)
    assert copies == [(str(policy), "policy-v1.bin"), (str(keys), "keys.json")]
    assert call == ("service.commission('policy-v1.bin', 'keys.json', 'broker.example:1883',"
                    " json=True)")
    package = tmp_path / "fw-1.4.pkg"
    package.write_bytes(b"p")
    call, copies = field.shell_call("update", table["update"][0], [str(package)], False)
    assert copies == [(str(package), field.PACKAGE_ON_METER)]
    assert call == "service.update('update.pkg')"
    # a path that is not a file here names a file on the meter: passed as it is
    call, copies = field.shell_call("apply", table["apply"][0], ["token.json"], False)
    assert (call, copies) == ("service.apply('token.json')", [])


@pytest.mark.parametrize("verb, args, message", [
    ("apply", [], "apply needs path"),
    ("comms", ["maybe"], "comms takes on or off"),
    ("audit", ["lots"], "n must be a whole number"),
    ("calibrate", ["pf1", "v_ref=high"], "v_ref must be a number"),
    ("status", ["extra"], "status does not take extra"),
    ("calibrate", ["pf1", "volts=3"], "calibrate does not take volts"),
])
def test_arguments_the_verb_does_not_take_are_refused_with_exit_status_2(verb, args, message,
                                                                           capsys):
    assert field.main(["--port", "/dev/null", verb] + args) == 2
    assert message in capsys.readouterr().err


def test_the_verbs_result_decides_the_exit_status():
    out = "REFUSED (bad-signature): ...\n%s {\"accepted\": false, \"reason\": \"bad-signature\"}\n" % (
        field.RESULT_MARK)
    shown, result = field.split_result(out)
    assert shown == "REFUSED (bad-signature): ...\n"  # the marker line is not shown
    assert field.refusal(result) == "bad-signature"
    assert field.refusal({"applied": False, "reason": "expired"}) == "expired"
    assert field.refusal({"passed": False, "checks": {}}) == "passed: false"
    assert field.refusal({"accepted": True, "version": "1.4"}) is None
    assert field.refusal([{"event": "boot"}]) is None  # audit entries: nothing refused
    assert field.split_result("no marker\n") == ("no marker\n", None)


def test_reboot_succeeds_only_when_the_meter_meters_again_under_a_new_boot(monkeypatch, capsys):
    answers = iter([
        "field-boot: 7 1.0 (slot a)\n",  # before
        "",  # the reboot command (the link drops)
        "field-boot: 7 1.0 (slot a)\n",  # not restarted yet
        "field-boot: 9 2.0 (slot b, on trial)\n",  # back, with a new boot entry
    ])
    monkeypatch.setattr(field, "run", lambda port, code, timeout=120: next(answers))
    monkeypatch.setattr(field.time, "sleep", lambda s: None)
    assert field._reboot("/dev/null", wait_s=5) == 0
    assert "metering on firmware 2.0 (slot b, on trial)" in capsys.readouterr().out


def test_reboot_fails_loudly_when_nothing_restarts(monkeypatch, capsys):
    monkeypatch.setattr(field, "run", lambda port, code, timeout=120: "field-boot: 7 1.0 (slot a)\n")
    clock = iter(range(0, 1000, 2))
    monkeypatch.setattr(field.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(field.time, "sleep", lambda s: None)
    assert field._reboot("/dev/null", wait_s=10) == 1
    assert "did not come back within 10 s" in capsys.readouterr().err


def test_a_calibration_only_proposed_is_not_a_refusal():
    proposed = {"step": "pf1", "applied": False, "proposed": True, "calibration": {}}
    assert field.refusal(proposed) is None


def test_an_exception_on_the_meter_is_not_reported_as_no_answer(monkeypatch, capsys):
    class Proc:
        returncode = 1
        stdout = ""
        stderr = ("Traceback (most recent call last):\n  File \"<stdin>\", line 2, in <module>\n"
                  "OSError: [Errno 2] ENOENT\n")

    monkeypatch.setattr(field.subprocess, "run", lambda *a, **k: Proc())
    assert field.main(["--port", "/dev/null", "apply", "tokne.json"]) == 1
    err = capsys.readouterr().err
    assert "answered with an error: OSError: [Errno 2] ENOENT" in err
    assert "did not answer" not in err


def test_reboot_after_a_staged_update_reports_the_boot_stages_verdict(monkeypatch, capsys):
    # a board that installs at boot: `update` only staged the package; the reboot's answer
    # is the boot stage's verdict, and a refusal is exit 1 like any refused update
    answers = iter([
        "field-boot: 7 1.0 (slot a)\n",
        "",
        "field-boot: 9 1.0 (slot a)\nfield-install: rejected hash-mismatch\n",
    ])
    monkeypatch.setattr(field, "run", lambda port, code, timeout=120: next(answers))
    monkeypatch.setattr(field.time, "sleep", lambda s: None)
    assert field._reboot("/dev/null", wait_s=5) == 1
    captured = capsys.readouterr()
    assert "the boot stage's install: rejected hash-mismatch" in captured.out
    assert "refused the staged update (hash-mismatch)" in captured.err
    accepted = iter(["field-boot: 7 1.0 (slot a)\n", "",
                     "field-boot: 9 2.0 (slot b, on trial)\nfield-install: accepted 2.0\n"])
    monkeypatch.setattr(field, "run", lambda port, code, timeout=120: next(accepted))
    assert field._reboot("/dev/null", wait_s=5) == 0
    assert "the boot stage's install: accepted 2.0" in capsys.readouterr().out
