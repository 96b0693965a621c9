import numpy as np

from animproc.robust import scaled_mad


def test_scaled_mad_estimates_the_standard_deviation_of_normal_values():
    values = np.random.default_rng(0).normal(5.0, 2.0, 20_000)
    assert abs(scaled_mad(values) - 2.0) < 0.05


def test_a_few_outliers_do_not_move_the_scaled_mad():
    values = np.random.default_rng(1).normal(0.0, 1.0, 1_000)
    spiked = values.copy()
    spiked[:10] = 1e6
    assert abs(scaled_mad(spiked) - scaled_mad(values)) < 0.05 and np.std(spiked) > 1e4


def test_scaled_mad_about_a_given_centre():
    assert scaled_mad([1.0, 2.0, 3.0], center=0.0) == 1.4826 * 2.0
