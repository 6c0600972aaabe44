from california_housing.serving.metrics import Metrics


def test_model_gauge_marks_the_version_served_and_zeroes_the_previous_one():
    metrics = Metrics()

    metrics.served("california-housing", 3, "champion")
    metrics.served("california-housing", 4, "champion")
    text = metrics.render().decode()

    labels = 'alias="champion",model_name="california-housing"'
    assert f'serving_model_version{{{labels},model_version="4"}} 1.0' in text
    assert f'serving_model_version{{{labels},model_version="3"}} 0.0' in text


def test_each_app_counts_in_its_own_registry():
    first, second = Metrics(), Metrics()

    first.requests.labels("/predict", "POST", "200").inc()

    assert 'endpoint="/predict"' in first.render().decode()
    assert 'endpoint="/predict"' not in second.render().decode()
