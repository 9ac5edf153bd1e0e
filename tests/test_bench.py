"""bench/: the load generator against a live server, its inputs and limits, the naive baseline."""
import json
import threading

import pytest
from werkzeug.serving import make_server

from transformers import AutoModelForSequenceClassification, AutoTokenizer

import hardware
from bench import forward, loadgen, naive_server, profile, run
from conftest import similarity_copy
from models import load_predictor

SUMMARY_KEYS = {"task", "clients", "requests", "seconds", "rps", "p50_ms", "p95_ms", "p99_ms",
                "errors", "status_counts"}


@pytest.fixture
def live_url(app):
    """Base URL of the session's app served by werkzeug in a thread (stopped after the test)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.mark.parametrize("task, bodies", [
    ("sentiment", [{"text": "이 영화 정말 재밌다!"}, {"text": "돈이 아깝다"}]),
    ("similarity", [{"sentence1": "오늘 날씨가 좋네요", "sentence2": "날씨가 맑아요"}]),
])
def test_load_generator_drives_a_server(live_url, task, bodies):
    result = loadgen.run_load(live_url, task, clients=4, requests=24, seconds=30, bodies=bodies)
    assert set(result) == SUMMARY_KEYS
    assert (result["requests"], result["errors"], result["status_counts"]) == (24, 0, {"200": 24})
    assert result["rps"] > 0 and 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]


def test_load_generator_counts_errors(live_url):
    result = loadgen.run_load(live_url, "sentiment", 2, 6, 30, bodies=[{"text": "😀"}])
    assert result["errors"] == 6 and result["status_counts"] == {"400": 6}


def test_load_generator_counts_refused_connections():
    port = run.free_port()  # nobody listens there
    result = loadgen.run_load(f"http://127.0.0.1:{port}", "sentiment", 2, 4, 30,
                              bodies=[{"text": "좋다"}])
    assert result["errors"] == 4 and result["status_counts"] == {"ConnectionRefusedError": 4}


@pytest.mark.parametrize("url", ["http://10.1.2.3:8000", "http://192.168.0.1", "https://127.0.0.1",
                                 "ftp://localhost"])
def test_load_generator_refuses_other_hosts(url):
    with pytest.raises(ValueError):
        loadgen.require_loopback(url)


@pytest.mark.parametrize("url, address", [("http://127.0.0.1:8000", ("127.0.0.1", 8000)),
                                          ("http://localhost:9", ("localhost", 9)),
                                          ("http://[::1]:8000", ("::1", 8000))])
def test_load_generator_accepts_loopback(url, address):
    assert loadgen.require_loopback(url) == address


def write_bench_data(root):
    """A data directory with a few NSMC test reviews (some unusable) and one KorSTS dev pair."""
    (root / "nsmc").mkdir()
    (root / "nsmc" / "ratings_test.txt").write_text(
        'id\tdocument\tlabel\n1\t"재밌다\t1\n2\t😀\t0\n3\t\t0\n4\t지루하다\t0\n', encoding="utf-8")
    (root / "korsts").mkdir()
    (root / "korsts" / "sts-dev.tsv").write_text(
        "genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n"
        "main\tf\t2012\t1\t4.0\t좋다\t좋아요\n", encoding="utf-8")


def test_inputs_come_from_the_data_directory(tmp_path):
    write_bench_data(tmp_path)
    assert loadgen.load_bodies("sentiment", tmp_path) == [{"text": '"재밌다'}, {"text": "지루하다"}]
    assert loadgen.load_bodies("sentiment", tmp_path, limit=1) == [{"text": '"재밌다'}]
    assert loadgen.load_bodies("similarity", tmp_path) == [{"sentence1": "좋다", "sentence2": "좋아요"}]


def test_naive_server_answers_like_the_app(tiny_config):
    client = naive_server.create_app(tiny_config).test_client()
    sentiment = client.post("/api/v1/sentiment", json={"text": "이 영화 정말 재밌다! 😀"}).json
    assert sentiment["label"] in ("negative", "positive") and 0.5 <= sentiment["score"] <= 1
    pair = {"sentence1": "오늘 날씨가 좋네요", "sentence2": "날씨가 맑아요"}
    assert 0 <= client.post("/api/v1/similarity", json=pair).json["score"] <= 5
    assert client.get("/healthz").json == {"status": "ok"}


def fake_results(rps, p50, p99, rss=500, errors=0) -> dict:
    """A bench_server result with the same numbers for every task and client count."""
    one = {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors}
    return {"results": {task: {"1": one, "16": one} for task in run.TASKS}, "worker_rss_mb": rss}


def test_ratios_and_targets():
    app, naive = fake_results(300, 50, 90), fake_results(100, 50, 300)
    ratios = run.ratios(app, naive)
    assert ratios["sentiment@16"] == {"rps": 3.0, "p50": 1.0, "p99": 0.3}
    assert all(run.targets(app, naive, ratios).values())
    slow = fake_results(150, 61, 90, rss=1025, errors=1)
    met = run.targets(slow, naive, run.ratios(slow, naive))
    assert met["similarity@16 rps ≥ 2.0× naive"] is False and met["zero errors"] is False
    assert met["sentiment@1 p50 ≤ 1.1× naive"] is False and met["app worker RSS ≤ 1024 MB"] is False
    assert met["similarity@1 p50 ≤ 60 ms"] is False


def test_forward_benchmark_times_both_settings(tiny_models, tmp_path, capsys):
    write_bench_data(tmp_path)
    forward.main(["--sentiment-model", str(tiny_models["sentiment"]), "--similarity-model",
                  str(tiny_models["similarity"]), "--batch-sizes", "1", "--seconds", "0.05",
                  "--data-dir", str(tmp_path)])
    results = json.loads(capsys.readouterr().out)["results"]
    assert set(results) == {f"{task} {setting}" for task in ("sentiment", "similarity")
                            for setting in ("unquantized", "int8", "int8 eager")}
    assert [results[f"sentiment {setting}"]["traced"] for setting in ("int8", "int8 eager")] == [True, False]
    for by_size in results.values():
        assert by_size["1"]["calls"] >= 1 and by_size["1"]["ms_per_call"] > 0


def test_forward_benchmark_times_forced_dtypes(tiny_models, tmp_path, capsys):
    write_bench_data(tmp_path)
    forward.main(["--sentiment-model", str(tiny_models["sentiment"]), "--similarity-model",
                  str(tiny_models["similarity"]), "--batch-sizes", "1", "--seconds", "0.05",
                  "--data-dir", str(tmp_path), "--dtypes", "bf16"])
    output = json.loads(capsys.readouterr().out)
    assert output["cpu"] == hardware.describe_cpu()
    assert output["results"]["similarity bf16"]["dtype"] == "bf16"
    assert output["results"]["sentiment int8"]["dtype"] == "fp32"  # int8 Linear layers, fp32 around
    assert output["results"]["sentiment bf16"]["1"]["calls"] >= 1


def test_naive_server_scores_a_pair_once_in_the_order_given(tiny_config, pair_order_models):
    # The baseline: one pipeline call per request, one order, even for a model the app
    # serves in both orders.
    config = {**tiny_config, "SIMILARITY_MODEL": str(pair_order_models["symmetric"])}
    client = naive_server.create_app(config).test_client()
    pair = ("최고", "시간 낭비했다 다신 안 봄")  # the tiny model reads these two orders ~0.01 apart
    scores = [client.post("/api/v1/similarity", json={"sentence1": a, "sentence2": b}).json["score"]
              for a, b in (pair, pair[::-1])]
    one_order = load_predictor(pair_order_models["plain"], "similarity", device="cpu")
    expected = [result["score"] for result in one_order.predict([pair, pair[::-1]])]
    assert scores == pytest.approx(expected, abs=1e-4) and expected[0] != pytest.approx(expected[1], abs=1e-3)


def test_naive_server_computes_in_the_dtype_the_weights_are_stored_in(tiny_config, tiny_models, tmp_path):
    stored = tmp_path / "fp16"
    model = AutoModelForSequenceClassification.from_pretrained(tiny_models["sentiment"])
    model.half().save_pretrained(stored)
    AutoTokenizer.from_pretrained(tiny_models["sentiment"]).save_pretrained(stored)
    client = naive_server.create_app({**tiny_config, "SENTIMENT_MODEL": str(stored)}).test_client()
    assert client.get("/readyz").json["models"]["sentiment"] == {"device": "cpu", "dtype": "fp16"}
    assert client.get("/readyz").json["models"]["similarity"]["dtype"] == "fp32"  # saved in fp32
    answer = client.post("/api/v1/sentiment", json={"text": "이 영화 정말 재밌다!"}).json
    assert answer["label"] in ("negative", "positive") and 0.5 <= answer["score"] <= 1
    forced = naive_server.create_app({**tiny_config, "SENTIMENT_MODEL": str(stored), "NAIVE_DTYPE": "fp32"})
    assert forced.test_client().get("/readyz").json["models"]["sentiment"]["dtype"] == "fp32"


def test_bench_result_file_describes_the_host_and_what_each_server_computes_in(tiny_models, tmp_path):
    write_bench_data(tmp_path)
    out = tmp_path / "bench.json"
    run.main(["--sentiment-model", str(tiny_models["sentiment"]), "--similarity-model",
              str(tiny_models["similarity"]), "--clients", "2", "--requests", "6", "--seconds", "20",
              "--data-dir", str(tmp_path), "--device", "cpu", "--out", str(out)])
    summary = json.loads(out.read_text(encoding="utf-8"))
    cpu = hardware.cpu_info()
    assert (summary["machine"]["cpu"], summary["machine"]["cpu_flags"]) == (cpu["model"], cpu["flags"])
    assert summary["machine"]["cpu_fast_bf16"] is hardware.cpu_has_fast_bf16()
    assert summary["machine"]["cpu_summary"] == hardware.describe_cpu()
    app_models, naive_models = summary["app"]["models"], summary["naive"]["models"]
    assert app_models["similarity"]["dtype"] in ("fp32", "bf16") and "quantized" in app_models["sentiment"]
    assert naive_models == {task: {"device": "cpu", "dtype": "fp32"} for task in run.TASKS}
    for server in ("app", "naive"):
        for task in run.TASKS:
            assert summary[server]["results"][task]["2"]["requests"] == 6
            assert summary[server]["results"][task]["2"]["errors"] == 0
    assert set(summary["ratios"]) == {"sentiment@2", "similarity@2"}


def test_naive_server_aligns_numbers_as_the_app_does(tiny_config, tiny_models, tmp_path):
    aligned = similarity_copy(tiny_models["similarity"], tmp_path / "aligned", False, align_numbers=True)
    client = naive_server.create_app({**tiny_config, "SIMILARITY_MODEL": str(aligned)}).test_client()
    words, digits = ("회의는 세 시에 시작", "3시에 회의"), ("회의는 3시에 시작", "3시에 회의")
    scores = [client.post("/api/v1/similarity", json={"sentence1": a, "sentence2": b}).json["score"]
              for a, b in (words, digits)]
    app_score = load_predictor(aligned, "similarity", device="cpu").predict([words])[0]["score"]
    assert scores == pytest.approx([app_score, app_score], abs=1e-4)


def test_profile_times_each_step_and_the_api_call(tiny_models, tmp_path, capsys):
    write_bench_data(tmp_path)
    profile.main(["--sentiment-model", str(tiny_models["sentiment"]), "--similarity-model",
                  str(tiny_models["similarity"]), "--inputs", "2", "--ops", "3", "--data-dir", str(tmp_path)])
    results = json.loads(capsys.readouterr().out)["results"]
    for task in ("sentiment", "similarity"):
        steps = results[task]["steps_ms"]
        assert 0 < steps["forward"] <= steps["predict"] and results[task]["api_ms"] > 0
        assert steps["tokens per row (median)"] >= 3 and len(results[task]["top_ops"]) == 3
        assert results[task]["model"]["task"] == task
