"""tools.bench.report: the parts that do not need a whole `make bench` run."""
import json

from tools.bench import report


def test_json_output_takes_the_results_tuple_keys():
    # the heap scans and the 32-bit runs are keyed by (mode, size) and (mode, way) tuples,
    # which json.dumps refuses: `python -m tools.bench --json` crashed at its end
    results = {"flow_heap": {"holes": {("ram", 512): "ok"}},
               "live32": {("rom", "boards"): {32: {"built": 1}, 64: {"built": 2}}}}
    out = json.loads(json.dumps(report.jsonable(results)))
    assert out["flow_heap"]["holes"] == {"ram/512": "ok"}
    assert out["live32"]["rom/boards"] == {"32": {"built": 1}, "64": {"built": 2}}


def test_the_qstr_pools_are_the_total_less_the_text():
    line = "qstr pool: n_pool=7, n_qstr=1909, n_str_data_bytes=21968, n_total_bytes=39968"
    assert report._qstr_pools(line) == 18000
