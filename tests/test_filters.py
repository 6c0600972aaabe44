import numpy as np
import pandas as pd
import pytest

from california_housing.filters import check_filters, domain_violations, row_mask
from california_housing.schema import RAW_FEATURES, TARGET

INLAND_CAPPED = {TARGET: {"le": 5.0}, "Longitude": {"lt": -119.0}}


def _rows(longitudes, targets=None):
    frame = pd.DataFrame(
        {
            "MedInc": 3.0,
            "HouseAge": 20.0,
            "AveRooms": 5.0,
            "AveBedrms": 1.0,
            "Population": 900.0,
            "AveOccup": 3.0,
            "Latitude": 36.0,
            "Longitude": longitudes,
        }
    )
    if targets is not None:
        frame[TARGET] = targets
    return frame


def test_check_filters_lists_rules_in_order():
    assert check_filters(INLAND_CAPPED) == [(TARGET, "le", 5.0), ("Longitude", "lt", -119.0)]
    assert check_filters({}) == []
    assert check_filters(None) == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"MedianIncome": {"gt": 1.0}}, "unknown column 'MedianIncome'"),
        ({"MedInc": {"lte": 5.0}}, "unknown operator 'lte'"),
        ({"MedInc": {"lt": "5"}}, "MedInc.lt: value must be a number"),
        ({"MedInc": {"lt": True}}, "MedInc.lt: value must be a number"),
    ],
)
def test_bad_filters_fail_the_same_way_for_training_and_scoring(filters, message):
    rows = _rows([-120.0], [1.0])

    with pytest.raises(ValueError, match=message):
        row_mask(rows, filters)
    with pytest.raises(ValueError, match=message):
        domain_violations(rows[RAW_FEATURES].to_numpy(), filters)


def test_row_mask_keeps_rows_where_every_rule_holds():
    rows = _rows([-120.0, -118.0, -121.0, -119.0], [1.0, 1.0, 5.00001, 5.0])

    mask = row_mask(rows, INLAND_CAPPED)

    assert mask.tolist() == [True, False, False, False]
    assert mask.index.equals(rows.index)


def test_row_mask_needs_the_filtered_columns():
    with pytest.raises(ValueError, match=f"column '{TARGET}', which the frame lacks"):
        row_mask(_rows([-120.0]), INLAND_CAPPED)


def test_domain_violations_name_the_broken_feature_rules_and_skip_the_target():
    features = _rows([-120.0, -118.0, -119.0])[RAW_FEATURES].to_numpy()

    violations = domain_violations(features, INLAND_CAPPED)

    assert violations == [[], ["Longitude lt -119.0"], ["Longitude lt -119.0"]]


def test_domain_violations_list_every_broken_rule_per_row():
    features = _rows([-118.0, -121.0])[RAW_FEATURES].to_numpy()
    filters = {"Longitude": {"lt": -119.0}, "MedInc": {"gt": 5.0}}

    assert domain_violations(features, filters) == [
        ["Longitude lt -119.0", "MedInc gt 5.0"],
        ["MedInc gt 5.0"],
    ]


def test_domain_violations_agree_with_row_mask_on_feature_rules():
    rng = np.random.default_rng(0)
    rows = _rows(rng.uniform(-124.0, -115.0, 500), rng.uniform(0.5, 5.00001, 500))
    feature_rules = {"Longitude": {"lt": -119.0}}

    inside = row_mask(rows, feature_rules)
    violations = domain_violations(rows[RAW_FEATURES].to_numpy(), feature_rules)

    assert [not v for v in violations] == inside.tolist()
