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
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from grlm.errors import GrlmError, InvalidInputError
from grlm.pipeline.config import RunConfig, config_to_dict

STAGES = ("terms", "sft", "train", "recommend", "baselines", "report")


def _hash(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    _atomic_write(path, text)


def write_json(path: Path, data) -> None:
    _atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def write_jsonl(path: Path, rows) -> None:
    _atomic_write(path, "".join(json.dumps(row, default=str) + "\n" for row in rows))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _file_digest(path: str | None) -> str | None:
    """The SHA-256 of a file's bytes: what a stage read, wherever the file lies and whenever it
    was copied (an mtime would change on every fresh copy of the data and rerun everything)."""
    if not path:
        return None
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{path} does not exist")
    digest = hashlib.sha256()
    with p.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _items_digest(items) -> str:
    """SHA-256 of a catalog's items (ids, texts, Term IDs) in id order."""
    rows = [dataclasses.astuple(items[i]) for i in sorted(items)]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def _dataset_digest(dataset) -> str:
    """SHA-256 of a dataset's content: its items, and every user's interactions and times."""
    timestamps = dataset.timestamps or {}
    users = [(u, dataset.sequences[u], timestamps.get(u)) for u in sorted(dataset.sequences)]
    return _hash({"items": _items_digest(dataset.items), "users": users})


class Pipeline:
    """Runs the stages of one :class:`RunConfig` in ``config.output_dir``."""

    def __init__(self, config: RunConfig, *, log: Callable[[str], None] = print,
                 force: Sequence[str] = ()):
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

    def _run_stage(self, stage: str, fingerprint: str, outputs: Sequence[Path],
                   body: Callable[[], None]) -> None:
        self._fingerprints[stage] = fingerprint
        if self._up_to_date(stage, fingerprint, outputs):
            self.log(f"[{stage}] up to date, skipped")
            self.skipped.append(stage)
            return
        self._marker(stage).unlink(missing_ok=True)
        self.log(f"[{stage}] running")
        started = time.perf_counter()
        body()
        seconds = time.perf_counter() - started
        self.timings[stage] = seconds
        missing = [str(p) for p in outputs if not p.exists()]
        if missing:
            raise GrlmError(f"stage {stage} did not write {missing}")
        write_json(self._marker(stage), {"fingerprint": fingerprint, "seconds": seconds,
                                         "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                   time.gmtime())})
        self.log(f"[{stage}] done in {seconds:.1f} s")

    # ----------------------------------------------------------------------------------- data
    @functools.cached_property
    def split_fingerprint(self) -> str:
        """The training split's inputs: the dataset section, the seed and the data's content."""
        dataset, _, _ = self.data()
        return _hash({"dataset": dataclasses.asdict(self.config.dataset), "seed": self.config.seed,
                      "content": _dataset_digest(dataset)})

    @property
    def eval_fingerprint(self) -> str:
        """The evaluation cases' inputs: the split's, and which users are evaluated."""
        return _hash({"split": self.split_fingerprint,
                      "eval_users": self.config.recommend.max_eval_users})

    def data(self):
        """(dataset, split, eval_split): the (sub-sampled) dataset, its leave-one-out split,
        and the same split with validation/test cases cut to the evaluation users."""
        if self._data is not None:
            return self._data
        from grlm.data import Dataset, Split, leave_one_out, load_dataset

        c = self.config
        dataset = load_dataset(c.dataset.source)
        users = sorted(dataset.sequences)
        if c.dataset.max_users and c.dataset.max_users < len(users):
            users = sorted(random.Random(c.seed).sample(users, c.dataset.max_users))
            dataset = Dataset(dataset.name, dataset.items,
                              {u: dataset.sequences[u] for u in users}, source=dataset.source)
        split = leave_one_out(dataset, max_history=c.dataset.max_history)
        eval_users = sorted(case.user_id for case in split.test)
        if c.recommend.max_eval_users and c.recommend.max_eval_users < len(eval_users):
            eval_users = sorted(random.Random(c.seed + 1).sample(eval_users,
                                                                 c.recommend.max_eval_users))
        keep = set(eval_users)
        eval_split = Split(split.protocol, split.train,
                           [e for e in split.valid if e.user_id in keep],
                           [e for e in split.test if e.user_id in keep], split.max_history,
                           split.skipped_users)
        self._data = (dataset, split, eval_split)
        return self._data

    # ---------------------------------------------------------------------------------- terms
    @property
    def terms_path(self) -> Path:
        return self.out / "terms" / "term_ids.jsonl"

    def stage_terms(self) -> None:
        c = self.config.terms
        fingerprint = _hash({"terms": dataclasses.asdict(c), "file": _file_digest(c.path),
                             "items": _items_digest(self.data()[0].items),
                             "model": self.config.model if c.source == "ctg" else None})

        def body() -> None:
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
                raise InvalidInputError(f"{len(missing)} items have no Term ID "
                                        f"(first: {missing[:3]})")
            write_jsonl(self.terms_path, ({"item_id": i, "terms": list(term_ids[i])}
                                          for i in dataset.items))

        self._run_stage("terms", fingerprint, [self.terms_path], body)

    def _run_ctg(self) -> dict:
        """Context-aware Term Generation through ``grlm terms build`` (grlm.terms) on the
        dataset's items, saved in the canonical format first."""
        from grlm.data import save_dataset
        from grlm.term_ids import load_term_ids

        dataset, _, _ = self.data()
        folder = self.out / "terms"
        save_dataset(dataset, folder / "dataset")
        target = folder / "ctg.jsonl"
        command = [sys.executable, "-m", "grlm.cli", "terms", "build",
                   "--dataset", str(folder / "dataset"), "--out", str(target)]
        if self.config.model != "smollm2":
            command += ["--model", self.config.model]
        command += list(self.config.terms.ctg_args)
        self.log("[terms] " + " ".join(command))
        result = subprocess.run(command, check=False)
        if result.returncode != 0:
            raise GrlmError(f"grlm terms build failed with exit status {result.returncode}")
        return load_term_ids(target)

    def term_ids(self) -> dict[str, tuple[str, ...]]:
        if self._term_ids is None:
            self._term_ids = {row["item_id"]: tuple(row["terms"])
                              for row in read_jsonl(self.terms_path)}
        return self._term_ids

    # ------------------------------------------------------------------------------------ sft
    def stage_sft(self) -> None:
        c = self.config.sft
        fingerprint = _hash({"sft": dataclasses.asdict(c), "seed": self.config.seed,
                             "data": self.split_fingerprint,
                             "terms": self._fingerprints["terms"],
                             "similar": _file_digest(c.similar_items)})
        folder = self.out / "sft"

        def body() -> None:
            from grlm.train.examples import mix, task_counts

            tasks = self._sft_tasks()
            built = {task: len(v) for task, v in tasks.items()}
            mixed = mix(tasks, c.tasks, seed=self.config.seed)
            valid = self._valid_examples()
            if c.valid_users and len(valid) > c.valid_users:
                valid = random.Random(self.config.seed + 3).sample(valid, c.valid_users)
            write_jsonl(folder / "train.jsonl", (dataclasses.asdict(e) for e in mixed))
            write_jsonl(folder / "valid.jsonl", (dataclasses.asdict(e) for e in valid))
            write_json(folder / "summary.json", {"objective": c.objective, "built": built,
                                                 "mixed": task_counts(mixed),
                                                 "ratios": c.tasks, "valid": len(valid)})
            self.log(f"[sft] {c.objective}: built {built}, mixed {task_counts(mixed)}, "
                     f"valid {len(valid)}")

        self._run_stage("sft", fingerprint,
                        [folder / "train.jsonl", folder / "valid.jsonl", folder / "summary.json"],
                        body)

    def _titles(self):
        dataset, _, _ = self.data()
        if not self.config.sft.include_titles:
            return None
        return {i: item.title for i, item in dataset.items.items()}

    def _sft_tasks(self) -> dict[str, list]:
        """Every task's examples as built from the training split (no validation or test
        target: ``split.train`` holds neither)."""
        from grlm.train.examples import (
            collab_examples,
            gti_examples,
            read_similar_items,
            seq_examples,
        )
        from grlm.train.packed import packed_train_examples

        c = self.config.sft
        dataset, split, _ = self.data()
        term_ids = self.term_ids()
        max_history = self.config.dataset.max_history
        train_split = split
        if c.max_train_users and c.max_train_users < len(split.train):
            users = sorted(random.Random(self.config.seed + 2).sample(
                sorted(split.train), c.max_train_users))
            train_split = dataclasses.replace(split, train={u: split.train[u] for u in users})
        if c.objective == "packed":
            seq = packed_train_examples(train_split, term_ids, max_history=max_history)
        else:
            seq = seq_examples(train_split, term_ids, stage="train", titles=self._titles(),
                               max_history=max_history)
        keep = c.max_targets_per_user or c.max_windows_per_user  # one applies per objective
        if keep:  # a user's examples are in time order: keep the most recent ones
            per_user: dict[str, list] = {}
            for example in seq:
                per_user.setdefault(example.user_id, []).append(example)
            seq = [e for user in sorted(per_user) for e in per_user[user][-keep:]]
        tasks = {"seq": seq}
        if c.tasks.get("gti", 0) > 0:
            tasks["gti"] = gti_examples(dataset.items, term_ids)
        if c.tasks.get("collab", 0) > 0:
            if not c.similar_items:
                raise InvalidInputError("sft.tasks.collab needs sft.similar_items")
            tasks["collab"] = collab_examples(read_similar_items(c.similar_items), term_ids,
                                              top_n=c.collab_top_n)
        return tasks

    def _valid_examples(self) -> list:
        """One example per validation case (the full split's), in the objective's format."""
        from grlm.train.examples import seq_examples
        from grlm.train.packed import packed_eval_examples

        _, split, _ = self.data()
        max_history = self.config.dataset.max_history
        if self.config.sft.objective == "packed":
            return packed_eval_examples(split, self.term_ids(), stage="valid",
                                        max_history=max_history)
        return seq_examples(split, self.term_ids(), stage="valid", titles=self._titles(),
                            max_history=max_history)

    def sft_examples(self, name: str):
        from grlm.train.examples import SFTExample
        from grlm.train.packed import PackedExample

        examples = []
        for row in read_jsonl(self.out / "sft" / f"{name}.jsonl"):
            if "items" in row:
                examples.append(PackedExample(row["task"], row["user_id"], tuple(row["items"]),
                                              tuple(tuple(t) for t in row["terms"]),
                                              row["first_target"]))
            else:
                examples.append(SFTExample(row["task"], row["prompt"], tuple(row["target"]),
                                           row["target_item"], row["user_id"]))
        return examples

    @property
    def objective(self):
        from grlm.train.objective import Objective

        return Objective(self.config.sft.objective)

    # ---------------------------------------------------------------------------------- train
    @property
    def model_dir(self) -> Path:
        return self.out / "train" / "model"

    def stage_train(self) -> None:
        c = self.config
        fingerprint = _hash({"train": dataclasses.asdict(c.train), "model": c.model,
                             "max_length": c.sft.max_length, "sft": self._fingerprints["sft"]})
        folder = self.out / "train"

        def body() -> None:
            from grlm.lm import load_model, load_tokenizer
            from grlm.train.encode import encode_examples
            from grlm.train.trainer import train

            stamp = folder / "fingerprint.txt"
            if int(os.environ.get("RANK", "0")) == 0:  # accelerate launch: the main process
                if folder.exists() and (not stamp.exists() or stamp.read_text() != fingerprint):
                    shutil.rmtree(folder)  # checkpoints of another configuration
                folder.mkdir(parents=True, exist_ok=True)
                stamp.write_text(fingerprint)
            tokenizer = load_tokenizer(c.model)
            model = load_model(c.model)
            objective = self.objective
            train_set, dropped = encode_examples(tokenizer, self.sft_examples("train"),
                                                 max_length=c.sft.max_length,
                                                 objective=objective)
            valid_set, _ = encode_examples(tokenizer, self.sft_examples("valid"),
                                           max_length=c.sft.max_length, objective=objective)
            tokens = sum(len(e.input_ids) for e in train_set)
            self.log(f"[train] {len(train_set)} {objective.name} examples ({dropped} over "
                     f"{c.sft.max_length} tokens dropped), {tokens} tokens per epoch, "
                     f"{len(valid_set)} validation examples")
            result = train(model, tokenizer, train_set, folder, c.train,
                           valid_examples=valid_set, log=lambda s: self.log("[train] " + s),
                           evaluate=self._curve_evaluator(tokenizer))
            self.log(f"[train] {result.steps} steps, {result.tokens_per_second:.0f} tokens/s")

        self._run_stage("train", fingerprint, [self.model_dir, folder / "train_result.json"],
                        body)

    # ------------------------------------------------------------------------------ recommend
    def grounder(self, device: str = "cpu"):
        """The catalog's Grounder; ties between items broken by training popularity."""
        from grlm.ground import Grounder

        _, split, _ = self.data()
        counts = Counter(i for seq in split.train.values() for i in seq)
        return Grounder(self.term_ids(), mode=self.config.recommend.grounding_mode,
                        priors={i: float(n) for i, n in counts.items()}, device=device)

    def cases(self, examples, tokenizer) -> list:
        """Recommendation cases (prompt ids of the objective) of evaluation examples."""
        from grlm.recommend import Case

        term_ids, max_history = self.term_ids(), self.config.dataset.max_history
        titles = self._titles()
        return [Case(e.user_id, tuple(self.objective.history_prompt_ids(
            tokenizer, tuple(e.history)[-max_history:], term_ids, titles)), e.target)
            for e in examples]

    def _max_new_tokens(self, tokenizer) -> int:
        term_ids = self.term_ids()
        return self.config.recommend.max_new_tokens or 8 + max(
            len(self.objective.answer_ids(tokenizer, t)) for t in set(term_ids.values()))

    def _curve_evaluator(self, tokenizer):
        """Recall@10 and NDCG@10 of the model being trained on ``sft.curve_users`` fixed
        validation users (the first configured decoding), or None when the curve is off."""
        c = self.config
        if not c.sft.curve_users:
            return None
        from grlm.recommend import metrics, recommend

        _, split, _ = self.data()
        examples = split.valid
        if len(examples) > c.sft.curve_users:
            examples = random.Random(c.seed + 4).sample(examples, c.sft.curve_users)
        cases = self.cases(examples, tokenizer)
        grounder = self.grounder()
        constrained = c.recommend.decoding[0] == "constrained"
        trie = self.objective.trie(tokenizer, self.term_ids()) if constrained else None
        max_new = self._max_new_tokens(tokenizer)

        def evaluate(model) -> dict:
            run = recommend(model, tokenizer, grounder, cases, k=10,
                            num_beams=c.recommend.num_beams, batch_size=c.recommend.batch_size,
                            max_new_tokens=max_new, term_id_length=grounder.term_id_length,
                            trie=trie, decoder=c.recommend.decoder,
                            eos_token_id=self.objective.end_token(tokenizer))
            result = metrics(run, ks=(10,))
            return {"recall@10": result["recall@10"], "ndcg@10": result["ndcg@10"]}

        return evaluate

    def stage_recommend(self) -> None:
        c = self.config
        fingerprint = _hash({"recommend": dataclasses.asdict(c.recommend),
                             "train": self._fingerprints["train"],
                             "terms": self._fingerprints["terms"],
                             "data": self.eval_fingerprint})
        folder = self.out / "recommend"
        names = [f"{s}-{d}" for d in c.recommend.decoding for s in c.recommend.splits]
        outputs = [folder / f"{name}.jsonl" for name in names]
        outputs += [folder / f"{name}_metrics.json" for name in names]

        def body() -> None:
            import torch

            from grlm.lm import default_device, load_model, load_tokenizer
            from grlm.recommend import metrics, recommend

            _, _, eval_split = self.data()
            tokenizer = load_tokenizer(str(self.model_dir))
            device = default_device()
            # bf16 on a GPU (as it was trained there); fp32 on the CPU, where bf16 is slow.
            dtype = torch.bfloat16 if device == "cuda" else torch.float32
            model = load_model(str(self.model_dir), device=device, dtype=dtype)
            r = c.recommend
            grounding = r.grounding_device
            if grounding == "auto":  # the CUDA scorer beside a GPU model, when it was built
                grounding = "auto" if device == "cuda" else "cpu"
            grounder = self.grounder(grounding)
            objective = self.objective
            max_new = self._max_new_tokens(tokenizer)
            for decoding in r.decoding:
                trie = objective.trie(tokenizer, self.term_ids()) if (
                    decoding == "constrained") else None
                for split_name in r.splits:
                    cases = self.cases(getattr(eval_split, split_name), tokenizer)
                    name = f"{split_name}-{decoding}"
                    self.log(f"[recommend] {name}: {len(cases)} users, {r.num_beams} beams, "
                             f"{r.decoder} decoder on {device}, grounding on "
                             f"{grounder.device}, max {max_new} new tokens")
                    last = [time.perf_counter()]

                    def progress(done: int, total: int, last=last, name=name) -> None:
                        if time.perf_counter() - last[0] > 30 or done == total:
                            last[0] = time.perf_counter()
                            self.log(f"[recommend] {name}: {done}/{total} users")

                    run = recommend(model, tokenizer, grounder, cases, k=r.k,
                                    num_beams=r.num_beams, batch_size=r.batch_size,
                                    max_new_tokens=max_new,
                                    term_id_length=grounder.term_id_length, trie=trie,
                                    decoder=r.decoder,
                                    eos_token_id=objective.end_token(tokenizer),
                                    progress=progress)
                    write_jsonl(folder / f"{name}.jsonl",
                                (dataclasses.asdict(u) for u in run.users))
                    result = metrics(run)
                    result.update(max_new_tokens=max_new, decoder=r.decoder, decoding=decoding,
                                  device=device, grounding_device=grounder.device)
                    write_json(folder / f"{name}_metrics.json", result)
                    self.log(f"[recommend] {name}: recall@10 {result['recall@10']:.4f} "
                             f"ndcg@10 {result['ndcg@10']:.4f}, "
                             f"{result['generation_s_per_user']:.3f} s per user")

        self._run_stage("recommend", fingerprint, outputs, body)

    # ------------------------------------------------------------------------------ baselines
    def stage_baselines(self) -> None:
        c = self.config
        fingerprint = _hash({"baselines": c.baselines, "sasrec": c.sasrec,
                             "data": self.eval_fingerprint})
        folder = self.out / "baselines"

        def body() -> None:
            from grlm.baselines import run_baseline

            dataset, _, eval_split = self.data()
            for name in c.baselines:
                config = None
                if name == "sasrec":
                    from grlm.baselines.sasrec import SASRecConfig

                    config = SASRecConfig(**c.sasrec)
                report = run_baseline(name, dataset, eval_split, config=config, progress=False,
                                      with_ranks=True)
                write_json(folder / f"{name}.json", report)
                self.log(f"[baselines] {name}: test recall@10 "
                         f"{report['test']['recall@10']:.4f}")

        self._run_stage("baselines", fingerprint,
                        [folder / f"{name}.json" for name in c.baselines], body)

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
        write_json(self.out / "config.json", config_to_dict(self.config))
        steps = {"terms": self.stage_terms, "sft": self.stage_sft, "train": self.stage_train,
                 "recommend": self.stage_recommend, "baselines": self.stage_baselines}
        for stage in STAGES[:STAGES.index(until) + 1]:
            if stage == "report":
                return self.stage_report()
            steps[stage]()
        return None
