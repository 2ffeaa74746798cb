"""The end-to-end run: data → Term IDs → SFT examples → fine-tuning → recommendation →
baselines → report, each stage skipped when its outputs exist and are up to date.

A stage is up to date when ``<output_dir>/stages/<stage>.json`` holds the fingerprint of the
stage's configuration and of every stage it reads, and all its outputs exist. Changing a field
reruns that stage and everything after it; an interrupted fine-tuning resumes from its last
checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from grlm._io import atomic_write_json, atomic_write_jsonl, read_jsonl
from grlm.errors import GrlmError, InvalidInputError
from grlm.pipeline.config import RunConfig, config_to_dict
from grlm.pipeline.distributed import (
    SHARED_STAGES,
    merge_shards,
    rank_and_world,
    wait_for_everyone,
)
from grlm.pipeline.fingerprint import dataset_digest, digest, file_digest, items_digest

STAGES = ("terms", "sft", "train", "recommend", "baselines", "report")


def grounding_device(setting: str, model_device: str) -> str:
    """Where the recommend stage grounds: ``recommend.grounding_device`` as set, except that
    "auto" means the CUDA scorer (when built) only beside a model on a GPU, else the CPU."""
    if setting == "auto":
        return "auto" if model_device == "cuda" else "cpu"
    return setting


def throttled_progress(log: Callable[[str], None], prefix: str, every_s: float = 30.0):
    """A ``progress(done, total)`` callback logging at most every ``every_s`` seconds, and at
    the end."""
    last = [time.perf_counter()]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > every_s or done == total:
            last[0] = time.perf_counter()
            log(f"{prefix}: {done}/{total} users")

    return progress


class Pipeline:
    """Runs the stages of one :class:`RunConfig` in ``config.output_dir``."""

    def __init__(
        self, config: RunConfig, *, log: Callable[[str], None] = print, force: Sequence[str] = ()
    ):
        self.config = config
        self.out = Path(config.output_dir)
        self.log = log
        self.force = set(force)
        unknown = self.force - set(STAGES) - {"all"}
        if unknown:
            raise InvalidInputError(f"unknown stage(s) to force: {sorted(unknown)}")
        self.timings: dict[str, float] = {}
        self.skipped: list[str] = []
        self._data = None
        self._term_ids = None
        self._vocabulary: tuple[int, list[int]] | None = None
        self._fingerprints: dict[str, str] = {}

    # ----------------------------------------------------------------------------- bookkeeping
    def _marker(self, stage: str) -> Path:
        return self.out / "stages" / f"{stage}.json"

    def _up_to_date(self, stage: str, fingerprint: str, outputs: Sequence[Path]) -> bool:
        if stage in self.force or "all" in self.force:
            return False
        marker = self._marker(stage)
        if not marker.exists():
            return False
        try:
            recorded = json.loads(marker.read_text())["fingerprint"]
        except (ValueError, KeyError):
            return False
        return recorded == fingerprint and all(p.exists() for p in outputs)

    def _run_stage(
        self, stage: str, fingerprint: str, outputs: Sequence[Path], body: Callable[[], None]
    ) -> None:
        self._fingerprints[stage] = fingerprint
        rank = rank_and_world()[0]
        if rank != 0 and stage not in SHARED_STAGES:
            return  # process 0 runs it; Pipeline.run waits for it
        if self._up_to_date(stage, fingerprint, outputs):
            self.log(f"[{stage}] up to date, skipped")
            self.skipped.append(stage)
            return
        if stage in SHARED_STAGES:
            wait_for_everyone()  # every process has read the old marker before it goes
        if rank == 0:
            self._marker(stage).unlink(missing_ok=True)
        self.log(f"[{stage}] running")
        started = time.perf_counter()
        body()
        seconds = time.perf_counter() - started
        self.timings[stage] = seconds
        if rank != 0:
            return
        missing = [str(p) for p in outputs if not p.exists()]
        if missing:
            raise GrlmError(f"stage {stage} did not write {missing}")
        finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        atomic_write_json(
            self._marker(stage),
            {"fingerprint": fingerprint, "seconds": seconds, "finished": finished},
        )
        self.log(f"[{stage}] done in {seconds:.1f} s")

    # ----------------------------------------------------------------------------------- data
    @functools.cached_property
    def split_fingerprint(self) -> str:
        """The training split's inputs: the dataset section, the seed and the data's content."""
        dataset, _, _ = self.data()
        return digest(
            {
                "dataset": dataclasses.asdict(self.config.dataset),
                "seed": self.config.seed,
                "content": dataset_digest(dataset),
            }
        )

    @property
    def eval_fingerprint(self) -> str:
        """The evaluation cases' inputs: the split's, and which users are evaluated."""
        return digest(
            {"split": self.split_fingerprint, "eval_users": self.config.recommend.max_eval_users}
        )

    def data(self):
        """(dataset, split, eval_split): the (sub-sampled) dataset, its leave-one-out split,
        and the same split with validation/test cases cut to the evaluation users."""
        if self._data is not None:
            return self._data
        from grlm.data import leave_one_out, load_dataset
        from grlm.data.sampling import sample_dataset_users, sample_split_users

        c = self.config
        dataset = sample_dataset_users(load_dataset(c.dataset.source), c.dataset.max_users, c.seed)
        split = leave_one_out(dataset, max_history=c.dataset.max_history)
        eval_split = sample_split_users(split, c.recommend.max_eval_users, c.seed + 1)
        self._data = (dataset, split, eval_split)
        return self._data

    # ---------------------------------------------------------------------------------- terms
    @property
    def terms_path(self) -> Path:
        return self.out / "terms" / "term_ids.jsonl"

    def stage_terms(self) -> None:
        c = self.config.terms
        fingerprint = digest(
            {
                "terms": dataclasses.asdict(c),
                "file": file_digest(c.path),
                "items": items_digest(self.data()[0].items),
                "model": self.config.model.name if c.source == "ctg" else None,
            }
        )

        self._run_stage("terms", fingerprint, [self.terms_path], self._write_terms)

    def _write_terms(self) -> None:
        """The catalog's Term IDs, from the configured source, in ``terms/term_ids.jsonl``."""
        c = self.config.terms
        dataset, _, _ = self.data()
        if c.source == "file":
            from grlm.term_ids import load_term_ids

            term_ids = load_term_ids(c.path)
        elif c.source == "metadata":
            from grlm.pipeline.terms import metadata_term_ids

            term_ids = metadata_term_ids(dataset.items, c.num_terms)
        else:
            term_ids = self._run_ctg()
        missing = [i for i in dataset.items if i not in term_ids]
        if missing:
            raise InvalidInputError(f"{len(missing)} items have no Term ID (first: {missing[:3]})")
        atomic_write_jsonl(
            self.terms_path, ({"item_id": i, "terms": list(term_ids[i])} for i in dataset.items)
        )

    def _run_ctg(self) -> dict:
        """Context-aware Term Generation (:func:`grlm.terms.build.build_term_id_file`, in this
        process) on the dataset's items, saved in the canonical format first; ``ctg_args`` are
        ``grlm terms build`` arguments."""
        from grlm.data import save_dataset
        from grlm.term_ids import load_term_ids
        from grlm.terms.build import build_term_id_file
        from grlm.terms.request import build_parser, ctg_request

        dataset, _, _ = self.data()
        folder = self.out / "terms"
        save_dataset(dataset, folder / "dataset")
        target = folder / "ctg.jsonl"
        argv = ["--dataset", str(folder / "dataset"), "--out", str(target)]
        if self.config.model.name != "smollm2":
            argv += ["--model", self.config.model.name]
        argv += list(self.config.terms.ctg_args)
        self.log("[terms] grlm terms build " + " ".join(argv))
        items, request = ctg_request(build_parser().parse_args(argv))
        if build_term_id_file(items, **request) is None:
            raise GrlmError(
                "the pipeline's CTG runs in one process; launch `grlm terms build` "
                "under torchrun for several and give the pipeline its file"
            )
        return load_term_ids(target)

    def term_ids(self) -> dict[str, tuple[str, ...]]:
        if self._term_ids is None:
            self._term_ids = {
                row["item_id"]: tuple(row["terms"]) for _, row in read_jsonl(self.terms_path)
            }
        return self._term_ids

    # ------------------------------------------------------------------------------------ sft
    def stage_sft(self) -> None:
        c = self.config.sft
        fingerprint = digest(
            {
                "sft": dataclasses.asdict(c),
                "seed": self.config.seed,
                "data": self.split_fingerprint,
                "terms": self._fingerprints["terms"],
                "similar": file_digest(c.similar_items),
            }
        )
        folder = self.out / "sft"

        self._run_stage(
            "sft",
            fingerprint,
            [folder / "train.jsonl", folder / "valid.jsonl", folder / "summary.json"],
            self._write_sft,
        )

    def _write_sft(self) -> None:
        """The SFT examples (``sft/train.jsonl``, ``valid.jsonl``) and their summary."""
        from grlm.train.sft import build_sft

        c = self.config.sft
        folder = self.out / "sft"
        dataset, split, _ = self.data()
        data = build_sft(
            dataset.items,
            split,
            self.term_ids(),
            c,
            seed=self.config.seed,
            max_history=self.config.dataset.max_history,
        )
        atomic_write_jsonl(
            folder / "train.jsonl", (dataclasses.asdict(e) for e in data.train), default=str
        )
        atomic_write_jsonl(
            folder / "valid.jsonl", (dataclasses.asdict(e) for e in data.valid), default=str
        )
        atomic_write_json(folder / "summary.json", data.summary, default=str)
        self.log(
            f"[sft] {c.objective}: built {data.summary['built']}, mixed "
            f"{data.summary['mixed']}, valid {len(data.valid)}"
        )

    def _titles(self):
        from grlm.train.sft import titles_of

        return titles_of(self.data()[0].items, self.config.sft)

    def sft_examples(self, name: str):
        from grlm.train.examples import SFTExample
        from grlm.train.packed import PackedExample

        examples = []
        for _, row in read_jsonl(self.out / "sft" / f"{name}.jsonl"):
            if "items" in row:
                examples.append(
                    PackedExample(
                        row["task"],
                        row["user_id"],
                        tuple(row["items"]),
                        tuple(tuple(t) for t in row["terms"]),
                        row["first_target"],
                    )
                )
            else:
                examples.append(
                    SFTExample(
                        row["task"],
                        row["prompt"],
                        tuple(row["target"]),
                        row["target_item"],
                        row["user_id"],
                    )
                )
        return examples

    @property
    def objective(self):
        """The objective of this run's SFT data and training (its prompt layout)."""
        from grlm.objective import Objective

        s = self.config.sft
        return Objective(s.objective, s.prompt, s.lines)

    def model_card(self):
        """What the trained model records: the recommend stage decodes as it was trained."""
        from grlm.model_card import ModelCard

        c = self.config
        return ModelCard(
            objective=c.sft.objective,
            prompt=c.sft.prompt,
            lines=c.sft.lines,
            loss=c.train.loss,
            keep_layers=c.model.keep_layers,
            base_model=c.model.name,
        )

    # ---------------------------------------------------------------------------------- train
    @property
    def model_dir(self) -> Path:
        return self.out / "train" / "model"

    def stage_train(self) -> None:
        c = self.config
        fingerprint = digest(
            {
                "train": dataclasses.asdict(c.train),
                "model": dataclasses.asdict(c.model),
                "max_length": c.sft.max_length,
                "sft": self._fingerprints["sft"],
            }
        )
        folder = self.out / "train"

        self._run_stage(
            "train", fingerprint, [self.model_dir, folder / "train_result.json"], self._fine_tune
        )

    def _fine_tune(self) -> None:
        """Fine-tunes the model (resuming this configuration's checkpoints) into ``train/model``."""
        from grlm.lm import load_model, load_tokenizer
        from grlm.train.encode import encode_examples
        from grlm.train.lean import keep_first_layers
        from grlm.train.losses import LossHead
        from grlm.train.trainer import train

        c = self.config
        folder = self.out / "train"
        fingerprint = self._fingerprints["train"]
        stamp = folder / "fingerprint.txt"
        if int(os.environ.get("RANK", "0")) == 0:  # accelerate launch: the main process
            if folder.exists() and (not stamp.exists() or stamp.read_text() != fingerprint):
                shutil.rmtree(folder)  # checkpoints of another configuration
            folder.mkdir(parents=True, exist_ok=True)
            stamp.write_text(fingerprint)
        tokenizer = load_tokenizer(c.model.name)
        model = load_model(c.model.name)
        if c.model.keep_layers:
            keep_first_layers(model, c.model.keep_layers)
        objective = self.objective
        train_set, dropped = encode_examples(
            tokenizer,
            self.sft_examples("train"),
            max_length=c.sft.max_length,
            objective=objective,
        )
        valid_set, _ = encode_examples(
            tokenizer,
            self.sft_examples("valid"),
            max_length=c.sft.max_length,
            objective=objective,
        )
        tokens = sum(len(e.input_ids) for e in train_set)
        self.log(
            f"[train] {len(train_set)} {objective.name} examples ({dropped} over "
            f"{c.sft.max_length} tokens dropped), {tokens} tokens per epoch, "
            f"{len(valid_set)} validation examples"
        )
        result = train(
            model,
            tokenizer,
            train_set,
            folder,
            c.train,
            valid_examples=valid_set,
            log=lambda s: self.log("[train] " + s),
            evaluate=self._curve_evaluator(tokenizer),
            head=LossHead.for_catalog(
                c.train.loss,
                objective,
                tokenizer,
                self.term_ids(),
                positions_only=c.train.loss_positions_only,
            ),
            card=self.model_card(),
        )
        self.log(f"[train] {result.steps} steps, {result.tokens_per_second:.0f} tokens/s")

    # ------------------------------------------------------------------------------ recommend
    def grounder(self, device: str = "cpu"):
        """The catalog's Grounder; ties between items broken by training popularity."""
        from grlm.ground import Grounder
        from grlm.recommend.priors import popularity_priors

        _, split, _ = self.data()
        return Grounder(
            self.term_ids(),
            mode=self.config.recommend.grounding_mode,
            priors=popularity_priors(split.train),
            device=device,
        )

    def cases(self, examples, tokenizer) -> list:
        """Recommendation cases (prompt ids of the objective) of evaluation examples."""
        from grlm.recommend import Case

        term_ids, max_history = self.term_ids(), self.config.dataset.max_history
        titles = self._titles()
        return [
            Case(
                e.user_id,
                tuple(
                    self.objective.history_prompt_ids(
                        tokenizer, tuple(e.history)[-max_history:], term_ids, titles
                    )
                ),
                e.target,
            )
            for e in examples
        ]

    def _max_new_tokens(self, tokenizer) -> int:
        term_ids = self.term_ids()
        return self.config.recommend.max_new_tokens or 8 + max(
            len(self.objective.answer_ids(tokenizer, t)) for t in set(term_ids.values())
        )

    def decode(self, model, tokenizer, grounder, cases, *, card, trie, k: int, progress=None):
        """``grlm.recommend.recommend`` with this run's decoder settings, scoring tokens as
        ``card`` says the model was trained."""
        from grlm.recommend import recommend

        r = self.config.recommend
        objective = card.to_objective()
        vocabulary = self._catalog_vocabulary(tokenizer) if card.restricts_vocabulary else None
        return recommend(
            model,
            tokenizer,
            grounder,
            cases,
            k=k,
            num_beams=r.num_beams,
            batch_size=r.batch_size,
            max_new_tokens=self._max_new_tokens(tokenizer),
            term_id_length=grounder.term_id_length,
            trie=trie,
            decoder=r.decoder,
            eos_token_id=objective.end_token(tokenizer),
            progress=progress,
            normalization=card.normalization,
            vocabulary=vocabulary,
            parse=objective.parse_answer,
        )

    def _catalog_vocabulary(self, tokenizer) -> list[int]:
        """The tokens of the catalog's answers, computed once per tokenizer (the learning curve
        decodes at every validation step)."""
        key = id(tokenizer)
        if self._vocabulary is None or self._vocabulary[0] != key:
            self._vocabulary = (key, self.objective.vocabulary(tokenizer, self.term_ids()))
        return self._vocabulary[1]

    def _curve_evaluator(self, tokenizer):
        """Recall@10 and NDCG@10 of the model being trained on ``sft.curve_users`` fixed
        validation users (the first configured decoding; on the CPU in the recommend stage's
        precision, through a copy of the small model when that differs, on a GPU as it trains),
        or None when the curve is off."""
        c = self.config
        if not c.sft.curve_users:
            return None
        import copy

        from grlm.lm import inference_dtype
        from grlm.recommend import metrics
        from grlm.train.sft import sample_examples

        _, split, _ = self.data()
        examples = sample_examples(split.valid, c.sft.curve_users, c.seed + 4)
        cases = self.cases(examples, tokenizer)
        grounder = self.grounder()
        constrained = c.recommend.decoding[0] == "constrained"
        trie = self.objective.trie(tokenizer, self.term_ids()) if constrained else None
        card = self.model_card()

        def evaluate(model) -> dict:
            weights = next(model.parameters())
            if weights.device.type == "cpu":  # a GPU would hold a second multi-GB model
                dtype = inference_dtype("cpu", c.recommend.precision)
                if weights.dtype != dtype:
                    model = copy.deepcopy(model).to(dtype)
            run = self.decode(model, tokenizer, grounder, cases, card=card, trie=trie, k=10)
            result = metrics(run, ks=(10,))
            return {"recall@10": result["recall@10"], "ndcg@10": result["ndcg@10"]}

        return evaluate

    def stage_recommend(self) -> None:
        c = self.config
        fingerprint = digest(
            {
                "recommend": dataclasses.asdict(c.recommend),
                "train": self._fingerprints["train"],
                "terms": self._fingerprints["terms"],
                "data": self.eval_fingerprint,
            }
        )
        folder = self.out / "recommend"
        names = [f"{s}-{d}" for d in c.recommend.decoding for s in c.recommend.splits]
        outputs = [folder / f"{name}.jsonl" for name in names]
        outputs += [folder / f"{name}_metrics.json" for name in names]

        self._run_stage("recommend", fingerprint, outputs, self._recommend_all)

    def _recommend_all(self) -> None:
        """Recommends for the evaluation users, every configured decoding and split."""
        from grlm.lm import default_device, inference_dtype, load_model, load_tokenizer
        from grlm.model_card import ModelCard

        c = self.config
        folder = self.out / "recommend"
        _, _, eval_split = self.data()
        card = ModelCard.load(self.model_dir)
        tokenizer = load_tokenizer(str(self.model_dir))
        device = default_device()
        dtype = inference_dtype(device, c.recommend.precision)
        model = load_model(str(self.model_dir), device=device, dtype=dtype)
        grounder = self.grounder(grounding_device(c.recommend.grounding_device, device))
        for decoding in c.recommend.decoding:
            card.check_decoding(decoding)
            trie = (
                self.objective.trie(tokenizer, self.term_ids())
                if (decoding == "constrained")
                else None
            )
            for split_name in c.recommend.splits:
                cases = self.cases(getattr(eval_split, split_name), tokenizer)
                self._recommend_cases(
                    model,
                    tokenizer,
                    grounder,
                    cases,
                    trie=trie,
                    name=f"{split_name}-{decoding}",
                    decoding=decoding,
                    device=device,
                    folder=folder,
                    card=card,
                )

    def _recommend_cases(
        self,
        model,
        tokenizer,
        grounder,
        cases,
        *,
        trie,
        name: str,
        decoding: str,
        device: str,
        folder: Path,
        card,
    ) -> None:
        """Recommends for ``cases`` and writes ``<name>.jsonl`` and ``<name>_metrics.json``."""
        from grlm.recommend import metrics

        r = self.config.recommend
        max_new = self._max_new_tokens(tokenizer)
        precision = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.log(
            f"[recommend] {name}: {len(cases)} users, {r.num_beams} beams, {r.decoder} "
            f"decoder on {device} in {precision}, grounding on {grounder.device}, max {max_new} "
            f"new tokens, {card.loss} loss: {card.normalization} normalization"
        )
        rank, world = rank_and_world()
        run = self.decode(
            model,
            tokenizer,
            grounder,
            cases[rank::world],
            card=card,
            trie=trie,
            k=r.k,
            progress=throttled_progress(self.log, f"[recommend] {name}"),
        )
        if world > 1:
            run = merge_shards(run, folder / f".{name}", rank, world)
            if run is None:
                return
        atomic_write_jsonl(
            folder / f"{name}.jsonl", (dataclasses.asdict(u) for u in run.users), default=str
        )
        result = metrics(run)
        result.update(
            max_new_tokens=max_new,
            decoder=r.decoder,
            decoding=decoding,
            device=device,
            precision=precision,
            grounding_device=grounder.device,
            loss=card.loss,
            normalization=card.normalization,
        )
        atomic_write_json(folder / f"{name}_metrics.json", result, default=str)
        self.log(
            f"[recommend] {name}: recall@10 {result['recall@10']:.4f} "
            f"ndcg@10 {result['ndcg@10']:.4f}, "
            f"{result['generation_s_per_user']:.3f} s per user"
        )

    # ------------------------------------------------------------------------------ baselines
    def stage_baselines(self) -> None:
        c = self.config
        fingerprint = digest(
            {"baselines": c.baselines, "sasrec": c.sasrec, "data": self.eval_fingerprint}
        )
        folder = self.out / "baselines"

        self._run_stage(
            "baselines",
            fingerprint,
            [folder / f"{name}.json" for name in c.baselines],
            self._run_baselines,
        )

    def _run_baselines(self) -> None:
        """Runs the configured baselines on the evaluation users."""
        from grlm.baselines import run_baseline

        c = self.config
        folder = self.out / "baselines"
        dataset, _, eval_split = self.data()
        for name in c.baselines:
            config = None
            if name == "sasrec":
                from grlm.baselines.sasrec import SASRecConfig

                config = SASRecConfig(**c.sasrec)
            report = run_baseline(
                name, dataset, eval_split, config=config, progress=False, with_ranks=True
            )
            atomic_write_json(folder / f"{name}.json", report, default=str)
            self.log(f"[baselines] {name}: test recall@10 {report['test']['recall@10']:.4f}")

    # --------------------------------------------------------------------------------- report
    def stage_report(self) -> dict:
        from grlm.pipeline.report import build_report

        started = time.perf_counter()
        report = build_report(self)
        self.timings["report"] = time.perf_counter() - started
        return report

    def run(self, until: str = "report") -> dict | None:
        """Runs every stage up to ``until`` (inclusive); returns the report when it ran."""
        if until not in STAGES:
            raise InvalidInputError(f"unknown stage {until!r} (one of {STAGES})")
        self.out.mkdir(parents=True, exist_ok=True)
        if rank_and_world()[0] == 0:
            atomic_write_json(self.out / "config.json", config_to_dict(self.config), default=str)
        steps = {
            "terms": self.stage_terms,
            "sft": self.stage_sft,
            "train": self.stage_train,
            "recommend": self.stage_recommend,
            "baselines": self.stage_baselines,
        }
        rank = rank_and_world()[0]
        for stage in STAGES[: STAGES.index(until) + 1]:
            if stage == "report":
                return self.stage_report() if rank == 0 else None
            steps[stage]()
            wait_for_everyone()
        return None
