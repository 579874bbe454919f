"""The names `hardness` accepts for datasets, identifiers, injected hardness and devices, importable without torch.

The CLI shows and completes these names while staying instant, and the config refuses any other before a store
or a run is opened. The dataset entries are the datasets' facts (hardness.datasets.prepare reads them).
IDENTIFIER_ENTRIES is the one place that says what each identifier is (its kind, what it observes, its cost and its
reference): the registry (hardness.identifiers) reads it, and a test keeps the two sets of names equal.
"""

from __future__ import annotations

from typing import NamedTuple


class DatasetEntry(NamedTuple):
    """A built-in dataset: its folder under the data root (None for the bundled digits) and its full size."""

    folder: str | None
    n_samples: int
    n_features: int
    n_classes: int


DATASETS: dict[str, DatasetEntry] = {
    "digits": DatasetEntry(None, 1797, 64, 10),
    "mnist": DatasetEntry("MNIST", 70_000, 784, 10),
    "fashion-mnist": DatasetEntry("FashionMNIST", 70_000, 784, 10),
    "kmnist": DatasetEntry("KMNIST", 70_000, 784, 10),
    "cifar10": DatasetEntry("cifar-10-batches-py", 60_000, 3072, 10),
}
DEVICES = ("auto", "cpu", "cuda", "mps")
"""train.device (`--device`): auto = cuda when torch sees a CUDA GPU, else cpu; mps is refused (hardness.engine.devices)."""
SOURCES: dict[str, str] = {
    "npz": "NumPy .npz file: x [N, ...] and y [N] (optional index [N], names [C])",
    "csv": "CSV table: data.label_column, numeric features (or data.feature_columns)",
    "parquet": "Parquet table: data.label_column, numeric features (or data.feature_columns)",
    "imagefolder": "folder of class folders of images (torchvision ImageFolder), data.image_size, data.grayscale",
    "recording": "a hardness.Recorder recording (.npz) of another training loop: identify reads its logits",
}
RECORDING = "recording"
"""The source of a Recorder's file: labels only, no features (its identifiers read the recorded logits)."""
"""The formats of a user's own data, read from `data.path`; the dataset name is the format's."""
IN_MEMORY = "arrays"
"""The name of data given to the Python API in memory (hardness.score(X, y, ...)); no file holds it."""
DATASET_NAMES: tuple[str, ...] = (*DATASETS, *SOURCES, IN_MEMORY)
"""Every name `data.name` accepts: the built-in datasets, the formats of a user's own data, then in-memory data."""


class IdentifierEntry(NamedTuple):
    """What an identifier is: its kind ("scores": thresholds turn its scores into sets; "set": it flags samples
    itself; "both"), what it observes, its extra cost per epoch and its reference (`hardness identifiers` shows them)."""

    kind: str
    observes: str
    cost: str
    reference: str


_PAUL = "Paul et al., 2021, Deep Learning on a Data Diet (NeurIPS)"
IDENTIFIER_ENTRIES: dict[str, IdentifierEntry] = {
    "aum": IdentifierEntry("scores", "margin of every epoch 1..E", "margin every epoch",
                           "Pleiss et al., 2020, Identifying Mislabeled Data using the Area Under the Margin Ranking "
                           "(NeurIPS)"),
    "cleanlab": IdentifierEntry("both", "out-of-sample probabilities of identifier.cleanlab_folds-fold "
                                "cross-validation (K x folds models, one ensemble)",
                                "none per epoch; folds x the models",
                                "Northcutt et al., 2021, Confident Learning (JAIR), through the cleanlab library"),
    "confidence": IdentifierEntry("scores", "logits of the final model (trained for the whole budget)", "none",
                                  "largest logit as confidence (SPEC section 5; Hendrycks & Gimpel, 2017)"),
    "datamaps": IdentifierEntry("scores", "true-class probability of every epoch 1..E (score: minus its mean)",
                                "true_prob every epoch",
                                "Swayamdipta et al., 2020, Dataset Cartography (EMNLP): confidence"),
    "datamaps_variability": IdentifierEntry("scores", "true-class probability of every epoch 1..E (score: its std)",
                                            "true_prob every epoch",
                                            "Swayamdipta et al., 2020, Dataset Cartography (EMNLP): variability"),
    "el2n": IdentifierEntry("scores", "softmax probabilities at epoch identifier.el2n_epoch (training stops there)",
                            "probs (heavy) at one epoch", f"{_PAUL}: EL2N"),
    "energy": IdentifierEntry("scores", "logits of the final model (trained for the whole budget)", "none",
                              "energy score (Liu et al., 2020)"),
    "forgetting": IdentifierEntry("scores", "correctness of every epoch 1..E", "correct every epoch",
                                  "Toneva et al., 2019, An Empirical Study of Example Forgetting during Deep Neural "
                                  "Network Learning (ICLR)"),
    "grand": IdentifierEntry("scores", "per-sample gradient norm at epoch identifier.grand_epoch (training stops "
                             "there)", "grad_norm at one epoch", f"{_PAUL}: GraNd"),
    "loss": IdentifierEntry("scores", "per-sample cross-entropy of the final model (mean over epochs 1..E with "
                            "identifier.loss_average)", "loss at the last epoch (every epoch when averaged)",
                            "per-sample training loss, the common baseline (e.g. Arpit et al., 2017)"),
    "margin": IdentifierEntry("scores", "true-class logit minus the largest other logit of the final model",
                              "margin at the last epoch",
                              "logit margin, AUM's per-epoch quantity (Pleiss et al., 2020)"),
    "prototypicality": IdentifierEntry("scores", "latent layer of the final model on the unit sphere, distance to its "
                                       "class mean", "latent (heavy) at the last epoch",
                                       "Sorscher et al., 2022, Beyond neural scaling laws (NeurIPS): prototype "
                                       "distance"),
    "stragglers": IdentifierEntry("set", "radii of the latent layer and per-sample correctness, every epoch",
                                  "radii and correct every epoch",
                                  "Stragglers at the class-manifold inversion point (SPEC section 4)"),
    "vog": IdentifierEntry("scores", "input gradient of the true-class logit at identifier.vog_checkpoints epochs",
                           "input_grad (heavy) at the checkpoints",
                           "Agarwal et al., 2022, Estimating Example Difficulty using Variance of Gradients (CVPR)"),
}
IDENTIFIERS: tuple[str, ...] = tuple(sorted(IDENTIFIER_ENTRIES))
BASELINE_IDENTIFIER = "stragglers"
"""The identifier every other is compared with (benchmark, `like_stragglers` thresholds, paired tests, the report)."""
IMAGE_SHAPES: dict[str, tuple[int, int]] = {"digits": (8, 8), "mnist": (28, 28), "fashion-mnist": (28, 28),
                                            "kmnist": (28, 28)}
"""Height x width of the built-in single-channel image datasets (flattened row by row)."""
INJECTION_TYPES: tuple[str, ...] = ("uniform", "asymmetric", "adjacent", "atypical", "ood_noise", "ood_digits")
"""The kinds of hardness `hardness detect` injects (hardness.studies.detect.inject has one function for each)."""

