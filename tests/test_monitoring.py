"""monitoring.py: /metrics in Prometheus text format, fed by requests and the batchers."""
from prometheus_client.parser import text_string_to_metric_families


def scrape(client) -> dict:
    """The /metrics samples as {(name, sorted labels): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def test_metrics_count_requests_batches_and_queue(client):
    before = scrape(client)
    key = ("kotext_requests_total", (("route", "/api/v1/sentiment"), ("status", "200")))
    assert client.post("/api/v1/sentiment", json={"texts": ["재밌다", "지루하다"]}).status_code == 200
    assert client.post("/api/v1/sentiment", json={"text": ""}).status_code == 400
    after = scrape(client)
    assert after[key] == before.get(key, 0) + 1
    assert ("kotext_requests_total",
            (("route", "/api/v1/sentiment"), ("status", "400"))) in after
    latency = ("kotext_request_seconds_count", (("route", "/api/v1/sentiment"),))
    assert after[latency] >= before.get(latency, 0) + 2
    batches = ("kotext_batch_size_sum", (("task", "sentiment"),))
    assert after[batches] >= before.get(batches, 0) + 2  # the two texts went through a batcher
    assert after[("kotext_queue_depth", (("task", "sentiment"),))] == 0


def test_unknown_paths_share_one_label(client):
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    samples = scrape(client)
    assert ("kotext_requests_total", (("route", "unmatched"), ("status", "404"))) in samples
    assert not any("/no/such" in str(labels) for _, labels in samples)
