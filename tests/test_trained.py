"""TrainedModel: typed fields, and the cache record form that existing cache entries hold."""

import dataclasses

import pytest

from lussi.cache import Cache
from lussi.data import load_dataset
from lussi.models.knn import KNNClassifier, KNNConfig, baseline_knn_config, seed_knn_config
from lussi.models.network import NetworkClassifier, NetworkConfig, seed_mlp_config
from lussi.models.train import train_knn
from lussi.models.trained import SweepPoint, TrainedModel

# Records as the trainers wrote them before TrainedModel had typed fields (lussi 579bbee): cache entries
# in users' caches hold these, and must read back unchanged.
OLD_SEED_KNN = {
    "base_config": seed_knn_config().to_dict(), "sweep": None, "sweep_seconds": 0.0, "validation_accuracy": None,
    "training_seconds": 0.626, "config": seed_knn_config().to_dict(), "n_train": 6000,
    "versions": {"python": "3.11.7", "numpy": "2.4.6", "sklearn": "1.9.1"},
}
OLD_SELECTED_KNN = {
    "base_config": baseline_knn_config(3).to_dict(),
    "sweep": [{"k": 1, "weights": "uniform", "accuracy": 0.93}, {"k": 1, "weights": "distance", "accuracy": 0.93},
              {"k": 3, "weights": "uniform", "accuracy": 0.935}, {"k": 3, "weights": "distance", "accuracy": 0.94}],
    "sweep_seconds": 1.25, "validation_accuracy": 0.94, "n_fit": 5400, "n_validation": 600, "training_seconds": 0.448,
    "config": dataclasses.replace(baseline_knn_config(3), weights="distance").to_dict(), "n_train": 6000,
    "versions": {"python": "3.11.7", "numpy": "2.4.6", "sklearn": "1.9.1"},
}
OLD_NETWORK = {
    "config": dataclasses.replace(seed_mlp_config(), epochs=2).to_dict(), "training_seconds": 10.3,
    "history": {"loss": [1.12, 0.43], "accuracy": [0.66, 0.87], "val_loss": [0.46, 0.35],
                "val_accuracy": [0.86, 0.908], "lr": [1e-3, 1e-3], "epoch_seconds": [7.4, 1.6]},
    "validation_accuracy": 0.908, "n_fit": 5400, "n_validation": 600, "n_params": 109386,
    "versions": {"python": "3.11.7", "numpy": "2.4.6", "sklearn": "1.9.1", "keras": "3.0", "backend": "tensorflow"},
}


def _without_placeholders(record: dict) -> dict:
    """The record less the keys the old trainers wrote as empty placeholders (no sweep: None and 0 s)."""
    if record.get("sweep") is None:
        record = {k: v for k, v in record.items() if k not in ("sweep", "sweep_seconds")}
    return record


def test_old_knn_records_read_into_typed_fields():
    seed = TrainedModel.from_record(OLD_SEED_KNN, name="knn_seed", model=KNNClassifier())
    assert seed.config == seed_knn_config() and isinstance(seed.config, KNNConfig)
    assert (seed.sweep, seed.validation_accuracy, seed.tuning_seconds, seed.n_fit) == (None, None, 0.0, None)
    assert seed.n_train == seed.n_fitted == 6000 and seed.training_seconds == 0.626 and seed.family == "knn"
    chosen = TrainedModel.from_record(OLD_SELECTED_KNN, name="knn", model=KNNClassifier())
    assert chosen.config.weights == "distance" and chosen.base_config == baseline_knn_config(3)
    assert chosen.sweep[3] == SweepPoint(3, "distance", 0.94) and len(chosen.sweep) == 4
    assert (chosen.validation_accuracy, chosen.tuning_seconds, chosen.n_fit, chosen.n_validation) == (0.94, 1.25, 5400, 600)
    assert chosen.n_fitted == 6000  # the final KNN is fitted on the whole training split


def test_old_network_record_reads_into_typed_fields():
    net = TrainedModel.from_record(OLD_NETWORK, name="mlp", model=NetworkClassifier())
    assert net.config == dataclasses.replace(seed_mlp_config(), epochs=2) and isinstance(net.config, NetworkConfig)
    assert net.history["val_accuracy"] == [0.86, 0.908] and net.validation_accuracy == 0.908
    assert (net.n_fit, net.n_fitted, net.n_params, net.sweep, net.family) == (5400, 5400, 109386, None, "network")
    assert net.versions["backend"] == "tensorflow"


@pytest.mark.parametrize("record", [OLD_SEED_KNN, OLD_SELECTED_KNN, OLD_NETWORK], ids=["seed-knn", "knn", "mlp"])
def test_records_round_trip_to_the_old_form(record):
    model = NetworkClassifier() if "history" in record else KNNClassifier()
    trained = TrainedModel.from_record(record, name="m", model=model)
    assert trained.to_record() == _without_placeholders(record)
    assert TrainedModel.from_record(trained.to_record(), name="m", model=model) == trained


def test_train_knn_writes_the_old_record_keys(tmp_path):
    tiny = load_dataset("digits").subset(n_train=300, n_test=50)
    cache = Cache(tmp_path)
    chosen = train_knn(tiny, baseline_knn_config(3), name="knn", profile="quick", cache=cache)
    assert set(chosen.entry.record) == set(OLD_SELECTED_KNN)
    assert chosen.validation_accuracy == max(point.accuracy for point in chosen.sweep)
    assert (chosen.config.n_neighbors, chosen.config.weights) in {(p.k, p.weights) for p in chosen.sweep}
    fixed = train_knn(tiny, seed_knn_config(), name="knn_seed", select=False, profile="quick", cache=cache)
    assert set(fixed.entry.record) == set(_without_placeholders(OLD_SEED_KNN)) and fixed.config == seed_knn_config()
    again = train_knn(tiny, baseline_knn_config(3), name="knn", profile="quick", cache=cache)
    assert again.entry.hit and dataclasses.replace(again, entry=None) == dataclasses.replace(chosen, entry=None, model=again.model)
