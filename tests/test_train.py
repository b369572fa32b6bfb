"""Training runs, logs, checkpoints and resumes where it stopped."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from separator.model import ChimeraNet, load_checkpoint, save_checkpoint
from separator.training.data.make import Recipe, make_dataset
from separator.training.data.render import bundled_soundfont
from separator.training.train import TrainConfig, TrainOptionError, decayed_lr, freeze, train, update_average, warmup_lr
from stemsplit.separator_cli import main as separator_main


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    make_dataset(folder, 6, Recipe(seed=1, seconds=1.5, soundfonts=[bundled_soundfont() or ""], use_espeak=False), shard_size=6)
    return folder


def test_training_resumes_from_its_checkpoint(tiny_data: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data=str(tiny_data), out=str(tmp_path), steps=4, batch=2, seconds=1.0, hidden=16, layers=1, log_every=2, save_every=2)
    train(cfg)
    _, extra = load_checkpoint(tmp_path / "last.pt")
    assert extra["step"] == 4 and extra["config"]["hidden"] == 16
    cfg.steps = 6
    train(cfg)
    _, extra = load_checkpoint(tmp_path / "last.pt")
    assert extra["step"] == 6
    steps = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_validation_scores_are_logged_and_best_model_kept(tiny_data: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(
        data=str(tiny_data),
        out=str(tmp_path),
        val_data=str(tiny_data),
        val_songs=2,
        steps=2,
        batch=2,
        seconds=1.0,
        hidden=16,
        layers=1,
        log_every=1,
        save_every=2,
        val_every=2,
    )
    train(cfg)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    val = [r["val"] for r in records if "val" in r]
    assert len(val) == 1 and {"named", "blind"} <= set(val[0])
    assert (tmp_path / "best.pt").exists()


def test_targets_group_sources_of_one_class_and_keep_unnamed_sources_apart() -> None:
    """A kick and a snare are both "drums" to the clustering; a source without a class is its own group,
    and the bins it dominates are kept out of the mask head's loss (its labelled sources' bins still train it)."""
    import numpy as np
    import torch

    from separator.training.train import targets

    rng = np.random.default_rng(0)
    tone = lambda f: np.sin(2 * np.pi * f * np.arange(22050) / 44100)  # noqa: E731
    kick, snare, lead = tone(60), tone(2000), tone(600)
    sources = torch.from_numpy(np.stack([kick, snare, lead, 0 * kick])[None, :, None].repeat(2, 2).astype(np.float32))
    sources = sources + torch.from_numpy(rng.standard_normal(sources.shape).astype(np.float32) * 1e-4) * (sources != 0)
    named = targets(sources, torch.tensor([[0, 0, 2, -1]]), 44100)
    unnamed = targets(sources, torch.tensor([[0, 0, -1, -1]]), 44100)
    groups = named["onehot"][0][named["weights"][0] > 0].argmax(-1).unique().tolist()
    assert groups == [0, 2]  # drums (kick and snare together) and guitar
    assert sorted(unnamed["onehot"][0][unnamed["weights"][0] > 0].argmax(-1).unique().tolist()) == [0, 7]  # 5 classes + slot 2
    active = named["weights"][0] > 0
    assert bool((named["labelled"][0][active] == 1).all())  # fully labelled: every bin trains the mask head
    lead_bins = unnamed["onehot"][0].argmax(-1) == 7
    kick_bins = unnamed["onehot"][0].argmax(-1) == 0
    assert bool((unnamed["labelled"][0][lead_bins & active] == 0).all()) and int(lead_bins[active].sum()) > 0
    assert bool((unnamed["labelled"][0][kick_bins & active] == 1).all()) and int(kick_bins[active].sum()) > 0
    assert named["src"].shape[-1] == 5 and float(named["src"][..., 1].max()) == 0.0


def test_cached_source_powers_give_the_targets_of_the_sources_stfts(tiny_data: Path) -> None:
    """Training reads each source's band power from a per-stem cache (one STFT per stem, clips on the
    hop grid) instead of transforming every source of every batch: the targets are the same."""
    import numpy as np
    import torch

    from separator.features import stft_size
    from separator.training.data.mix import StemBank
    from separator.training.train import batch_targets

    bank = StemBank(tiny_data)
    rate = bank.sample_rate
    _, hop = stft_size(rate)
    batch = bank.draw(np.random.default_rng(3), 4, rate, powers=True)
    assert batch.powers is not None and batch.powers.shape == (4, batch.sources.shape[1], rate // hop + 1, 128)
    fast = batch_targets(batch, rate, torch.device("cpu"), stereo=True)
    batch.powers = None
    slow = batch_targets(batch, rate, torch.device("cpu"), stereo=True)
    np.testing.assert_allclose(fast["feats"], slow["feats"], atol=0.02)  # dB: the mixture is one STFT either way
    np.testing.assert_allclose(fast["cues"], slow["cues"], atol=0.02)
    inner = slice(3, -3)  # a clip's first and last frames see its edges; the cache sees the stem around them
    src_fast, src_slow = fast["src"][:, inner], slow["src"][:, inner]
    assert float((src_fast - src_slow).abs().sum() / src_slow.abs().sum()) < 2e-3  # float16 dB in the cache
    active = slow["weights"] > 0
    agree = (fast["onehot"].argmax(-1) == slow["onehot"].argmax(-1))[active].float().mean()
    assert float(agree) > 0.99


def test_every_train_option_says_what_it_does_in_help(capsys) -> None:  # type: ignore[no-untyped-def]
    """`separator train --help` explains each setting of a run, with its default."""
    import pytest

    from separator.training.train import OPTION_HELP, TrainConfig
    from stemsplit.separator_cli import get_parser

    with pytest.raises(SystemExit):
        get_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert set(OPTION_HELP) == set(vars(TrainConfig()))
    for name, help_text in OPTION_HELP.items():
        assert f"--{name.replace('_', '-')}" in text and " ".join(help_text.split()) in text
    assert "mixtures per step (default: 8)" in text and "Adam learning rate (default: 0.001)" in text


def test_training_with_lofi_mixtures_runs_and_records_the_setting(tiny_data: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data=str(tiny_data), out=str(tmp_path), steps=2, batch=4, seconds=1.0, hidden=16, layers=1, log_every=1, lofi=1.0)
    train(cfg)
    _, extra = load_checkpoint(tmp_path / "last.pt")
    assert extra["step"] == 2 and extra["config"]["lofi"] == 1.0
    losses = [json.loads(line)["loss"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(losses))


def test_training_with_the_phase_sensitive_loss_logs_it_and_records_the_setting(tiny_data: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data=str(tiny_data), out=str(tmp_path), steps=2, batch=4, seconds=1.0, hidden=16, layers=1, log_every=1, psa=0.5)
    train(cfg)
    _, extra = load_checkpoint(tmp_path / "last.pt")
    assert extra["config"]["psa"] == 0.5
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    # the negative SNR in dB of the masked classes: finite, and an untrained mask head is no better than 15 dB
    assert all(np.isfinite(r["psa"]) and -15 < r["psa"] for r in records)


def test_training_with_the_naming_loss_logs_it_and_records_the_setting(tiny_data: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(
        data=str(tiny_data), out=str(tmp_path), steps=2, batch=4, seconds=1.0, hidden=16, layers=1, log_every=1, name_loss=1.0
    )
    train(cfg)
    _, extra = load_checkpoint(tmp_path / "last.pt")
    assert extra["config"]["name_loss"] == 1.0
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    # −log of a class's mean posterior of itself: an untrained head of five classes gives about log 5
    assert all(0.5 < r["name"] < 4.0 for r in records)
    assert all(r["loss"] > r["name"] for r in records)  # added to the other parts


def test_training_with_magnitude_weighted_clustering_records_the_setting(tiny_data: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(
        data=str(tiny_data), out=str(tmp_path), steps=2, batch=4, seconds=1.0, hidden=16, layers=1, log_every=1, dc_magnitude=1.0
    )
    train(cfg)
    _, extra = load_checkpoint(tmp_path / "last.pt")
    assert extra["step"] == 2 and extra["config"]["dc_magnitude"] == 1.0
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["dc"]) and 0 < r["dc"] for r in records)


def test_the_weight_average_moves_a_fraction_of_the_way_each_step_and_copies_buffers() -> None:
    torch.manual_seed(0)
    average, model = ChimeraNet(hidden=8, layers=1), ChimeraNet(hidden=8, layers=1)
    before = [p.clone() for p in average.parameters()]
    model.feat_mean.fill_(3.0)
    update_average(average, model, 0.75)
    for old, new, target in zip(before, average.parameters(), model.parameters(), strict=True):
        assert torch.allclose(new, 0.75 * old + 0.25 * target)
    assert float(average.feat_mean.min()) == 3.0


def test_an_averaged_run_validates_and_keeps_the_average_and_resumes_it(tiny_data: Path, tmp_path: Path) -> None:
    common = dict(data=str(tiny_data), out=str(tmp_path), batch=2, seconds=1.0, hidden=16, layers=1, log_every=1, save_every=2)
    cfg = TrainConfig(**common, steps=2, ema=0.5, val_data=str(tiny_data), val_songs=1, val_every=2, lr=0.01)  # type: ignore[arg-type]
    train(cfg)
    trained, extra = load_checkpoint(tmp_path / "last.pt")
    best, best_extra = load_checkpoint(tmp_path / "best.pt")
    average = extra["average"]
    assert best_extra["step"] == 2
    for name, value in best.state_dict().items():  # best.pt holds the average, not the trained weights
        assert torch.equal(value, average[name])
    assert any(not torch.equal(v, trained.state_dict()[k]) for k, v in average.items() if k.startswith("lstm"))
    cfg.steps = 4
    train(cfg)
    _, resumed = load_checkpoint(tmp_path / "last.pt")
    assert resumed["step"] == 4 and not torch.equal(resumed["average"]["embed.weight"], average["embed.weight"])


def test_a_frozen_trunk_and_embedding_keep_their_weights_and_only_the_mask_head_learns(tiny_data: Path, tmp_path: Path) -> None:
    """``--freeze trunk,embed`` fine-tunes the class masks alone: blind splits cannot change."""
    init = tmp_path / "init.pt"
    start = ChimeraNet(hidden=16, layers=1)
    save_checkpoint(start, init)
    run = str(tmp_path / "run")
    cfg = TrainConfig(data=str(tiny_data), out=run, init=str(init), steps=3, batch=2, seconds=1.0, lr=0.01, freeze="trunk,embed")
    train(cfg)
    trained, extra = load_checkpoint(tmp_path / "run" / "last.pt")
    before, after = start.state_dict(), trained.state_dict()
    assert extra["config"]["freeze"] == "trunk,embed"
    for name in before:
        if name.startswith(("lstm.", "embed.", "feat_")):
            assert torch.equal(before[name], after[name]), name
    assert not torch.equal(before["mask.weight"], after["mask.weight"])


def test_freeze_names_its_parts_and_refuses_to_freeze_everything() -> None:
    with pytest.raises(ValueError, match=r"unknown part\(s\) \['lstm'\]; choose from trunk, embed, mask"):
        freeze(ChimeraNet(hidden=8, layers=1), "lstm")
    with pytest.raises(ValueError, match="leaves nothing to train"):
        freeze(ChimeraNet(hidden=8, layers=1), "trunk,embed,mask")


def test_warmup_raises_the_learning_rate_linearly_then_holds_it() -> None:
    assert [warmup_lr(1e-3, 4, step) for step in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    assert warmup_lr(1e-3, 0, 0) == 1e-3


def test_decay_holds_the_rate_until_its_step_then_falls_along_a_half_cosine_to_lr_end() -> None:
    cfg = TrainConfig(lr=1e-3, steps=110, decay_from=10, lr_end=0.01)
    assert decayed_lr(1e-3, cfg, 0) == decayed_lr(1e-3, cfg, 9) == decayed_lr(1e-3, cfg, 10) == 1e-3
    assert decayed_lr(1e-3, cfg, 60) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5))  # half way: half way down
    assert decayed_lr(1e-3, cfg, 110) == pytest.approx(1e-5)
    rates = [decayed_lr(1e-3, cfg, step) for step in range(10, 111)]
    assert all(later < earlier for earlier, later in itertools.pairwise(rates))
    assert decayed_lr(1e-3, TrainConfig(steps=110), 100) == 1e-3  # -1: held to the end


def test_a_decaying_run_saves_its_schedule_and_trains_with_the_last_rate(tiny_data: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(data=str(tiny_data), out=str(tmp_path / "run"), steps=4, batch=2, seconds=1.0, hidden=16, layers=1,
                      lr=0.01, decay_from=2, lr_end=0.1)  # fmt: skip
    train(cfg)
    _, extra = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (extra["config"]["decay_from"], extra["config"]["lr_end"]) == (2, 0.1)
    rate_of_step_3 = 0.01 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 0.5)))
    assert extra["optimizer"]["param_groups"][0]["lr"] == pytest.approx(rate_of_step_3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--steps", "100", "--decay-from", "100"], "--decay-from 100 is not before --steps 100: the learning rate would never fall"),
        (["--decay-from", "0", "--lr-end", "2"], "--lr-end 2.0 is a share of --lr: give a number from 0 to 1"),
        (["--centre", "50"], "--centre 50.0 is a share of the training mixtures: give a number from 0 to 1"),
        (["--freeze", "lstm"], "--freeze 'lstm': unknown part(s) ['lstm']; choose from trunk, embed, mask"),
    ],
)
def test_train_options_that_cannot_work_say_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    assert separator_main(["train", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "run"), *options]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"
    assert issubclass(TrainOptionError, ValueError)


def test_train_bf16_on_a_cpu_without_a_bfloat16_lstm_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a CPU without AVX-512 torch's LSTM has no bfloat16 kernel: ``--bf16`` stopped with a oneDNN traceback."""
    import separator.training.train as train_module

    monkeypatch.setattr(train_module, "bfloat16_lstm", lambda: False)
    argv = ["train", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "run"), "--bf16", "--device", "cpu"]
    assert separator_main(argv) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --bf16: this CPU cannot run the network's LSTM in bfloat16 (torch needs AVX-512 for it); leave --bf16 out (float32)"
    )
    assert not (tmp_path / "run").exists()


def test_a_warmed_up_fine_tune_moves_the_weights_less_in_its_first_steps(tiny_data: Path, tmp_path: Path) -> None:
    """Adam's first updates move every weight by about ``lr``; with ``--warmup`` they start near 0."""
    init = tmp_path / "init.pt"
    start = ChimeraNet(hidden=16, layers=1)
    save_checkpoint(start, init)
    moved = {}
    for warmup in (0, 100):
        run = tmp_path / f"run-{warmup}"
        cfg = TrainConfig(data=str(tiny_data), out=str(run), init=str(init), steps=2, batch=2, seconds=1.0, lr=0.01, warmup=warmup)
        train(cfg)
        trained, extra = load_checkpoint(run / "last.pt")
        assert extra["config"]["warmup"] == warmup
        moved[warmup] = max(float((trained.state_dict()[k] - v).abs().max()) for k, v in start.state_dict().items())
    assert moved[0] == pytest.approx(0.02, rel=0.2)  # two steps of about lr each
    assert moved[100] < moved[0] / 10  # 1 % and 2 % of lr
