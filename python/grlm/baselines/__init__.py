"""Classical baselines evaluated on the same splits and metrics as the generative model:
most-popular and SASRec (PyTorch, CPU-trainable). ``grlm.baselines.sasrec`` imports torch;
this package does not import it until that module is used."""

from grlm.baselines.common import ItemIndex, evaluate_examples
from grlm.baselines.popularity import PopularityRecommender

__all__ = ["ItemIndex", "PopularityRecommender", "evaluate_examples", "run_baseline"]


def run_baseline(
    model: str,
    dataset,
    split,
    *,
    ks=(1, 5, 10, 20),
    exclude_history=False,
    config=None,
    progress=True,
    log=None,
    also_other_setting=False,
    with_ranks=False,
) -> dict:
    """Trains (if needed) and evaluates a baseline; returns a JSON-serialisable report.

    Parameters
    ----------
    model : {"popularity", "sasrec"}
    dataset : grlm.data.Dataset
    split : grlm.data.Split
    ks : iterable of int
    exclude_history : bool, default False
    config : grlm.baselines.sasrec.SASRecConfig, optional
    progress : bool
    log : callable, optional
        Receives per-epoch records of SASRec training.
    also_other_setting : bool, default False
        Also evaluate the test examples with the other ``exclude_history`` setting, reported as
        ``test_exclude_history`` or ``test_keep_history``.
    with_ranks : bool, default False
        Keep each evaluated user's target rank in ``valid["ranks"]`` / ``test["ranks"]``.
    """
    import time

    from grlm.errors import InvalidInputError

    index = ItemIndex.from_dataset(dataset)
    report: dict = {
        "model": model,
        "dataset": dataset.name,
        "num_items": len(index),
        "split": split.summary(),
        "exclude_history": exclude_history,
    }
    if model == "popularity":
        start = time.perf_counter()
        pop = PopularityRecommender(index).fit(split)
        report["train_seconds"] = time.perf_counter() - start
        score = pop.score
    elif model == "sasrec":
        from grlm.baselines.sasrec import train_sasrec

        net, result = train_sasrec(split, index, config, progress=progress, log=log)
        metric = result.config["valid_metric"]
        curve = [
            {
                "epoch": r["epoch"],
                "loss": r["loss"],
                "seconds": r["seconds"],
                **({f"valid_{metric}": r["valid"][metric]} if "valid" in r else {}),
            }
            for r in result.history
        ]
        report.update(
            train_seconds=result.train_seconds,
            best_epoch=result.best_epoch,
            epochs_run=result.epochs_run,
            stopped_by=result.stopped_by,
            config=result.config,
            valid_curve=curve,
        )
        score = net.score_histories
    else:
        raise InvalidInputError(f"unknown baseline {model!r} (popularity, sasrec)")
    start = time.perf_counter()
    for part in ("valid", "test"):
        report[part] = evaluate_examples(
            score,
            getattr(split, part),
            index,
            ks=ks,
            exclude_history=exclude_history,
            progress=progress,
            desc=part,
            with_ranks=with_ranks,
        )
    report["eval_seconds"] = time.perf_counter() - start
    if also_other_setting:
        key = "test_keep_history" if exclude_history else "test_exclude_history"
        report[key] = evaluate_examples(
            score, split.test, index, ks=ks, exclude_history=not exclude_history
        )
    return report
