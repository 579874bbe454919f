"""The module backend (K copies of any nn.Module through torch.func) against its two references: the mlp backend on
the MLP, and K separately trained plain modules with torch.optim on a CNN and a ResNet."""

import copy

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from hardness.catalogue import IDENTIFIERS
from hardness.cli import app
from hardness.config import build_config
from hardness.datasets.prepare import Dataset
from hardness.engine import EpochState, Hook, compute_batch_order
from hardness.engine.architectures import build_network, default_latent
from hardness.engine.factory import build_engine
from hardness.engine.radii import compute_radii
from hardness.errors import UserError
from hardness.identifiers.stragglers import find_stragglers

N, C, SHAPE = 96, 3, (1, 8, 8)
SEEDS = [21, 22, 23]
PER_SAMPLE = ("correct", "margin", "true_prob", "loss", "grad_norm", "radii")
runner = CliRunner()


def make_dataset(n=N, shape=SHAPE, *, images=True, seed=0) -> Dataset:
    """Random images (or a table) whose label is decided by a pixel's sign, so the models have something to learn."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, shape[0] * shape[1] * shape[2], generator=generator)
    y = ((x[:, 10] > 0).long() + (x[:, 20] > 0.5).long()).clamp_max(C - 1)
    return Dataset("synthetic", x, y, y.clone(), torch.arange(n), C, torch.zeros(n, dtype=torch.bool), "test",
                   image_shape=shape if images else None)


def make_config(**sections):
    tree = {"seed": 0, "inversion": {"warmup": 0, "check_every": 1}, "train": {"epochs": 4, "lr": 0.05}}
    for section, values in sections.items():
        tree[section] = {**tree.get(section, {}), **values}
    return build_config(tree, [])


class Everything(Hook):
    """Keeps every per-sample observation and the radii each epoch, and the heavy ones of the last epoch in the
    caller's order."""

    observes = frozenset({*PER_SAMPLE, "probs", "latent", "input_grad"})

    def __init__(self, n):
        self.states: list[EpochState] = []
        self.heavy: dict[str, torch.Tensor] = {}
        self.n = n

    def on_chunk(self, epoch, models, positions, observed):
        for name, values in observed.items():
            if name not in self.heavy:
                self.heavy[name] = torch.zeros(len(models), self.n, *values.shape[2:])
            self.heavy[name][:, positions] = values

    def on_epoch_end(self, state):
        self.states.append(state)


def fit_observed(config, dataset, mask=None, seeds=SEEDS):
    engine, ensemble = build_engine(config, dataset, seeds)
    hook = Everything(dataset.n_samples)
    fitted = engine.fit(ensemble, dataset.x, dataset.y, train_mask=mask, hooks=[hook], seed=config.seed)
    return engine, fitted, hook


@pytest.mark.parametrize("train", [{}, {"batch_size": 16, "momentum": 0.9, "weight_decay": 0.01}],
                         ids=["full-batch-sgd", "minibatch-momentum"])
def test_module_backend_on_the_mlp_equals_the_mlp_backend(train):
    dataset = make_dataset(images=False)
    mask = torch.rand(len(SEEDS), N, generator=torch.Generator().manual_seed(3)) < torch.tensor([[1.0], [.7], [.4]])
    results = {}
    for backend in ("mlp", "module"):
        config = make_config(model={"backend": backend}, train=train)
        results[backend] = fit_observed(config, dataset, mask)
    (mlp_engine, mlp_fit, mlp), (module_engine, module_fit, module) = results["mlp"], results["module"]
    assert type(module_engine.backend).__name__ == "ModuleBackend"
    for a, b in zip(mlp.states, module.states, strict=True):
        for name in PER_SAMPLE:
            assert torch.allclose(a.observed[name].float(), b.observed[name].float(), atol=2e-5), (a.epoch, name)
        assert torch.allclose(a.loss, b.loss, atol=1e-6)
    for name in ("probs", "latent", "input_grad"):
        assert torch.allclose(mlp.heavy[name], module.heavy[name], atol=2e-5), name
    assert torch.allclose(mlp_engine.predict(mlp_fit.ensemble, dataset.x),
                          module_engine.predict(module_fit.ensemble, dataset.x), atol=2e-5)


def test_stragglers_and_identifier_scores_agree_between_backends():
    import hardness

    dataset = make_dataset(n=150, images=False, seed=4)
    found = {}
    for backend in ("mlp", "module"):
        config = make_config(model={"backend": backend}, train={"epochs": 30, "lr": 0.3})
        found[backend] = find_stragglers(dataset, config, SEEDS, seed=0)
    assert torch.equal(found["mlp"].inversion_epoch, found["module"].inversion_epoch)
    assert torch.equal(found["mlp"].hard, found["module"].hard) and found["mlp"].hard.any()
    x, y = dataset.x.numpy(), dataset.y.numpy()
    scores = [hardness.score(x, y, "aum", seeds=2, epochs=20, model__backend=backend).scores
              for backend in ("mlp", "module")]
    assert abs(scores[0] - scores[1]).max() < 1e-4


def separate_modules(config, dataset, mask, seeds):
    """The obvious reference: one plain module per seed (same initial draw), trained alone with torch.optim on the
    same per-model mini-batches (or its whole masked set per step)."""
    train, shape = config.train, dataset.image_shape
    orders = None
    if train.batch_size is not None:
        generator = torch.Generator().manual_seed(config.seed)
        orders = [compute_batch_order(mask, generator) for _ in range(train.epochs)]
    modules = []
    for k, seed in enumerate(seeds):
        torch.manual_seed(seed)
        module = build_network(config.model, C, shape)
        if train.optimizer == "adam":
            optimizer = torch.optim.Adam(module.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        else:
            optimizer = torch.optim.SGD(module.parameters(), lr=train.lr, momentum=train.momentum,
                                        weight_decay=train.weight_decay)
        own = int(mask[k].sum())
        batches = [[mask[k].nonzero().squeeze(1)]] * train.epochs if orders is None else [
            [order[k, start:min(start + train.batch_size, own)]
             for start in range(0, int(mask.sum(1).max()), train.batch_size)] for order in orders]
        for epoch_batches in batches:
            for positions in epoch_batches:
                if len(positions) == 0:
                    continue
                optimizer.zero_grad()
                F.cross_entropy(module(dataset.x[positions].view(-1, *shape)), dataset.y[positions]).backward()
                optimizer.step()
        modules.append(module)
    return modules


@pytest.mark.parametrize("model,train,atol", [
    ({"arch": "cnn"}, {"batch_size": 16, "momentum": 0.9}, 1e-5),
    ({"arch": "cnn"}, {"batch_size": 16, "optimizer": "adam", "lr": 0.005, "weight_decay": 0.01}, 1e-3),
    ({"arch": "cnn"}, {}, 1e-5),
    ({"arch": "resnet", "resnet_blocks": 1, "resnet_width": 4}, {"batch_size": 32, "momentum": 0.9}, 1e-5),
], ids=["cnn-minibatch-momentum", "cnn-minibatch-adam", "cnn-full-batch", "resnet-batchnorm"])
def test_a_module_ensemble_equals_separately_trained_modules(model, train, atol):
    """Adam divides by the root of the squared gradient's average, so for a weight whose gradient is nearly zero it
    turns the last bits of rounding (vmap's batched products against a plain module's) into a share of a step: its
    tolerance is 1e-3, where lr is 5e-3; SGD's is 1e-5."""
    dataset = make_dataset()
    config = make_config(model=model, train={"lr": 0.02, **train})
    mask = torch.ones(len(SEEDS), N, dtype=torch.bool)  # batch norm needs training sets of one size
    if model["arch"] == "cnn":
        mask = torch.rand(len(SEEDS), N, generator=torch.Generator().manual_seed(5)) < torch.tensor([[1.], [.6], [.3]])
    engine, ensemble = build_engine(config, dataset, SEEDS)
    fitted = engine.fit(ensemble, dataset.x, dataset.y, train_mask=mask, seed=config.seed)
    state = fitted.ensemble.params | fitted.ensemble.buffers
    for k, module in enumerate(separate_modules(config, dataset, mask, SEEDS)):
        for name, value in [*module.named_parameters(), *module.named_buffers()]:
            assert torch.allclose(value.detach().float(), state[name][k].float(), atol=atol), (k, name)
        module.eval()
        with torch.no_grad():
            logits = module(dataset.x.view(-1, *SHAPE))
        assert torch.allclose(engine.predict(fitted.ensemble, dataset.x)[k], logits, atol=10 * atol)


def test_dropout_is_drawn_per_model_and_the_same_seed_repeats_it():
    dataset = make_dataset()
    twins = [7, 7]
    plain = make_config(model={"arch": "cnn"})
    engine, ensemble = build_engine(plain, dataset, twins)
    params = engine.fit(ensemble, dataset.x, dataset.y, seed=0).ensemble.params
    assert all(torch.equal(t[0], t[1]) for t in params.values())  # same seed, no randomness: twins stay twins
    dropped = make_config(model={"arch": "cnn", "dropout": 0.5})
    runs = []
    for _ in range(2):
        engine, ensemble = build_engine(dropped, dataset, twins)
        runs.append(engine.fit(ensemble, dataset.x, dataset.y, seed=0).ensemble.params)
    assert not torch.equal(runs[0]["7.weight"][0], runs[0]["7.weight"][1])  # each model its own dropout masks
    assert all(torch.equal(runs[0][name], runs[1][name]) for name in runs[0])  # and the same ones again


def test_gradient_observations_match_per_sample_autograd():
    dataset = make_dataset(n=20)
    config = make_config(model={"arch": "cnn"}, train={"epochs": 1})
    _, fitted, hook = fit_observed(config, dataset, seeds=SEEDS[:2])
    final = hook.states[-1]
    for k in range(2):
        module = build_network(config.model, C, SHAPE).eval()
        with torch.no_grad():
            for name, value in module.named_parameters():
                value.copy_(fitted.ensemble.params[name][k])
        for i in (0, 7, 19):
            x = dataset.x[i].view(1, *SHAPE).requires_grad_()
            loss = F.cross_entropy(module(x), dataset.y[i:i + 1])
            grads = torch.autograd.grad(loss, list(module.parameters()))
            norm = torch.sqrt(sum(g.square().sum() for g in grads))
            assert torch.isclose(final.observed["grad_norm"][k, i], norm, rtol=1e-4)
            (input_grad,) = torch.autograd.grad(module(x)[0, dataset.y[i]], x)
            assert torch.allclose(hook.heavy["input_grad"][k, i], input_grad.flatten(), atol=1e-6)


def test_radii_read_the_named_module():
    dataset = make_dataset()
    config = make_config(model={"arch": "cnn", "latent": 5}, train={"epochs": 1})
    _, fitted, hook = fit_observed(config, dataset, seeds=SEEDS[:2])
    for k in range(2):
        module = build_network(config.model, C, SHAPE)
        with torch.no_grad():
            for name, value in module.named_parameters():
                value.copy_(fitted.ensemble.params[name][k])
            latent = module[:6](dataset.x.view(-1, *SHAPE)).flatten(1)
        assert torch.allclose(hook.states[-1].radii[k], compute_radii(latent, dataset.y, C).float(), atol=1e-5)
        assert torch.allclose(hook.heavy["latent"][k], latent, atol=1e-5)


def test_default_latent_layers():
    cnn = make_config(model={"arch": "cnn"}).model
    assert default_latent(cnn, build_network(cnn, C, SHAPE)) == "11:input"
    mlp = make_config(model={"latent_layer": 1, "backend": "module"}).model
    assert default_latent(mlp, build_network(mlp, C, (64,))) == "3"


@pytest.mark.parametrize("model,train,message", [
    ({"arch": "resnet"}, {}, "batch norm, whose statistics need mini-batches"),
    ({"arch": "cnn"}, {"precision": "bf16"}, "bf16 is the mlp backend's"),
    ({"arch": "cnn", "latent": "head"}, {}, "model.latent 'head' is not a module of the network"),
    ({"module": "tests.networks:missing"}, {}, "cannot be loaded"),
    ({"module": "tests.networks:not_a_module"}, {}, "returned str, not an nn.Module"),
])
def test_networks_that_cannot_train_are_refused_in_one_line(model, train, message):
    with pytest.raises(UserError, match=message) as caught:
        build_engine(make_config(model=model, train=train), make_dataset(), SEEDS)
    assert "\n" not in str(caught.value)


def test_batchnorm_with_training_sets_of_different_sizes_is_refused():
    config = make_config(model={"arch": "resnet", "resnet_blocks": 1, "resnet_width": 4}, train={"batch_size": 16})
    dataset = make_dataset()
    engine, ensemble = build_engine(config, dataset, SEEDS[:2])
    mask = torch.ones(2, N, dtype=torch.bool)
    mask[1, :10] = False
    with pytest.raises(UserError, match="same number of samples"):
        engine.fit(ensemble, dataset.x, dataset.y, train_mask=mask)


def test_a_convolutional_network_on_a_table_is_refused():
    with pytest.raises(UserError, match="needs images, and these data are a table of 64 features"):
        build_engine(make_config(model={"arch": "cnn"}), make_dataset(images=False), SEEDS)


def test_the_plain_engine_refuses_a_network_it_cannot_train():
    from hardness.engine import Engine

    config = make_config(model={"arch": "cnn"})
    with pytest.raises(ValueError, match="build_engine"):
        Engine(config.model, config.train, C)


def test_a_user_module_trains_through_the_cli(tracking_uri):
    arguments = ["--tracking-uri", tracking_uri, "--seeds", "2", "--epochs", "6", "--subset-size", "200", "--json",
                 "--set", "inversion.warmup=1", "--set", "inversion.check_every=1", "--set", "train.batch_size=50"]
    for network in (["--set", "model.arch=cnn"], ["--set", "model.module=tests.networks:tiny_cnn"]):
        result = runner.invoke(app, ["run", *arguments, *network])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["identify", "--identifier", "aum", *arguments, *network])
        assert result.exit_code == 0, result.output


def test_a_convolutional_network_on_a_table_exits_2(tmp_path):
    table = tmp_path / "table.csv"
    rows = "\n".join(f"{i % 3},{i % 7},{i % 2}" for i in range(30))
    table.write_text("a,b,label\n" + rows + "\n")
    result = runner.invoke(app, ["run", "--dataset", "csv", "--set", f"data.path={table}", "--set",
                                 "model.arch=cnn", "--epochs", "6", "--set", "inversion.warmup=0"])
    assert result.exit_code == 2
    assert "needs images" in result.output


def test_copies_do_not_share_storage():
    dataset = make_dataset()
    engine, ensemble = build_engine(make_config(model={"arch": "cnn"}), dataset, SEEDS)
    before = copy.deepcopy(ensemble.params)
    engine.fit(ensemble, dataset.x, dataset.y, seed=0)
    assert all(torch.equal(before[name], ensemble.params[name]) for name in before)  # the caller's models are kept


@pytest.mark.parametrize("name", IDENTIFIERS)
def test_every_identifier_runs_on_a_cnn(name):
    import hardness

    dataset = make_dataset(n=60)
    images = dataset.x.view(-1, *SHAPE).numpy()
    result = hardness.find_hard(images, dataset.y.numpy(), name, seeds=2, epochs=6, model__arch="cnn",
                                batch_size=20, inversion__warmup=0, inversion__check_every=1,
                                identifier__cleanlab_folds=2)
    assert result.mask.shape == (60,)
