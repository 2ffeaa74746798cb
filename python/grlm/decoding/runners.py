"""Model runners of the beam-search decoder: prefill the prompts once, then one token per beam row.

``SharedPromptRunner`` (Llama-family decoders: llama, qwen2, qwen3, mistral without a sliding
window): the prompt's KV cache is computed once per request and shared by all its beams; each
beam keeps only its short suffix (the generated tokens) in a static buffer reordered by parent
every step. Attention of a step reads the prompt's keys once per request, not once per beam.
Every tensor a step touches is preallocated, so the step can be captured in a CUDA graph.

``ExpandedCacheRunner`` (any other causal LM): the Hugging Face cache copied to every beam and
reordered with ``reorder_cache``, as ``generate`` does.
"""

from __future__ import annotations

SHARED_PROMPT_MODEL_TYPES = ("llama", "qwen2", "qwen3", "mistral")


def _rotate_half(x):
    import torch

    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def position_ids(mask):
    """Position ids of left-padded rows as Hugging Face numbers them: 0 from each row's first
    real token, 0 on the padding."""
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)


def _cache_kwarg(model) -> str:
    """Name of the cache argument of model.forward (``cache`` from transformers 5.x on)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _last_logits_kwargs(model) -> dict:
    """Ask for the last position's logits only (a prompt's full logits can be gigabytes)."""
    import inspect

    return (
        {"logits_to_keep": 1}
        if "logits_to_keep" in inspect.signature(model.forward).parameters
        else {}
    )


def _output_cache(out):
    cache = getattr(out, "past_key_values", None)
    return cache if cache is not None else out.cache


def _layer_kv(cache):
    """(keys, values) per layer of a DynamicCache, old and new layouts."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _columns_of(logits, columns):
    """Full-width logits, or their ``columns`` when a vocabulary is decoded."""
    return logits if columns is None else columns.select(logits)


def shared_prompt_supported(model) -> bool:
    config = model.config
    if getattr(config, "model_type", None) not in SHARED_PROMPT_MODEL_TYPES:
        return False
    if config.model_type == "mistral" and getattr(config, "sliding_window", None):
        return False
    if config.model_type in ("qwen2", "qwen3") and getattr(config, "use_sliding_window", False):
        return False
    layer_types = getattr(config, "layer_types", None)
    if layer_types and any(t != "full_attention" for t in layer_types):
        return False
    inner = getattr(model, "model", None)
    return all(hasattr(inner, name) for name in ("layers", "embed_tokens", "norm", "rotary_emb"))


class SharedPromptRunner:
    """Decode steps of a Llama-family model over a shared prompt cache (see module docstring).

    With ``columns`` (:class:`grlm.decoding.vocabulary.VocabularyColumns`) every call returns
    only its logit columns: a step multiplies only those rows of the head, gathered once here."""

    def __init__(self, model, *, columns=None):
        self.model = model
        self.inner = model.model
        self.columns = columns
        self.head_rows = None if columns is None else columns.head(model.lm_head)
        config = model.config
        self.num_heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        attention = self.inner.layers[0].self_attn
        self.head_dim = attention.head_dim
        self.scaling = attention.scaling
        self.num_layers = len(self.inner.layers)
        self.shape = None

    def allocate(self, batch: int, num_beams: int, prompt_len: int, steps: int):
        """Static buffers for this shape (kept when the shape repeats: CUDA graphs reuse them).
        Returns True when new buffers were allocated (graphs captured before are stale)."""
        import torch

        shape = (batch, num_beams, prompt_len, steps)
        if self.shape == shape:
            return False
        param = next(self.model.parameters())
        dtype, device = param.dtype, param.device
        rows = batch * num_beams
        kv = (self.num_layers, batch, self.kv_heads, prompt_len, self.head_dim)
        self.prompt_k = torch.zeros(kv, dtype=dtype, device=device)
        self.prompt_v = torch.zeros(kv, dtype=dtype, device=device)
        self.prompt_bias = torch.zeros((batch, prompt_len), dtype=dtype, device=device)
        suffix = (self.num_layers, rows, self.kv_heads, steps, self.head_dim)
        self.suffix_k = torch.zeros(suffix, dtype=dtype, device=device)
        self.suffix_v = torch.zeros(suffix, dtype=dtype, device=device)
        self.reorder_buffer = torch.zeros(suffix, dtype=dtype, device=device)
        self.next_position = torch.zeros(rows, dtype=torch.long, device=device)
        self.slots = torch.arange(steps, device=device)
        self.shape = shape
        return True

    def prefill(self, input_ids, attention_mask, position_ids):
        """Runs the prompts once; returns the last logits (batch, vocab)."""
        import torch

        num_beams = self.shape[1]
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **_last_logits_kwargs(self.model),
        )
        for i, (keys, values) in enumerate(_layer_kv(_output_cache(out))):
            self.prompt_k[i].copy_(keys)
            self.prompt_v[i].copy_(values)
        self.prompt_bias.copy_(torch.where(attention_mask.bool(), 0.0, float("-inf")))
        self.next_position.copy_((position_ids[:, -1] + 1).repeat_interleave(num_beams))
        self.suffix_k.zero_()
        self.suffix_v.zero_()
        return _columns_of(out.logits[:, -1, :], self.columns)

    def step(self, tokens, slot):
        """Logits (rows, vocab) of one token per beam row; ``slot`` is a 0-d device tensor."""
        import torch

        batch, num_beams, prompt_len, steps = self.shape
        rows = batch * num_beams
        nh, kvh, d = self.num_heads, self.kv_heads, self.head_dim
        group = nh // kvh
        x = self.inner.embed_tokens(tokens)[:, None, :]
        positions = (self.next_position + slot)[:, None]
        cos, sin = self.inner.rotary_emb(x, positions)
        suffix_bias = torch.where(self.slots <= slot, 0.0, float("-inf")).to(x.dtype)
        slot_index = slot.view(1)
        for i, layer in enumerate(self.inner.layers):
            attention = layer.self_attn
            h = layer.input_layernorm(x)
            q = attention.q_proj(h).view(rows, nh, d)
            k = attention.k_proj(h).view(rows, kvh, d)
            v = attention.v_proj(h).view(rows, kvh, d)
            if hasattr(attention, "q_norm"):
                q = attention.q_norm(q)
                k = attention.k_norm(k)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            self.suffix_k[i].index_copy_(2, slot_index, k[:, :, None, :])
            self.suffix_v[i].index_copy_(2, slot_index, v[:, :, None, :])
            # Scores against the request's prompt (shared by its beams) and the beam's suffix.
            qb = q.view(batch, num_beams, kvh, group, d)
            qp = qb.permute(0, 2, 1, 3, 4).reshape(batch, kvh, num_beams * group, d)
            sp = torch.matmul(qp, self.prompt_k[i].transpose(-1, -2)) * self.scaling
            sp = sp + self.prompt_bias[:, None, None, :]
            sp = sp.view(batch, kvh, num_beams, group, prompt_len).permute(0, 2, 1, 3, 4)
            ks = self.suffix_k[i].view(batch, num_beams, kvh, steps, d)
            vs = self.suffix_v[i].view(batch, num_beams, kvh, steps, d)
            ss = torch.matmul(qb, ks.transpose(-1, -2)) * self.scaling + suffix_bias
            weights = torch.cat((sp, ss), dim=-1).float().softmax(dim=-1).to(q.dtype)
            wp = weights[..., :prompt_len].permute(0, 2, 1, 3, 4)
            wp = wp.reshape(batch, kvh, num_beams * group, prompt_len)
            op = torch.matmul(wp, self.prompt_v[i])
            op = op.view(batch, kvh, num_beams, group, d).permute(0, 2, 1, 3, 4)
            os_ = torch.matmul(weights[..., prompt_len:], vs)
            o = (op + os_).reshape(rows, 1, nh * d)
            x = x + attention.o_proj(o)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        x = self.inner.norm(x)[:, 0, :]
        if self.columns is None:
            return self.model.lm_head(x)
        # Only the vocabulary's rows of the head (a tenth of SmolLM2's on Beauty).
        return torch.nn.functional.linear(x, *self.head_rows)

    def reorder(self, parent):
        """Each row takes its parent row's suffix (parent: (rows,) int64 device tensor)."""
        import torch

        torch.index_select(self.suffix_k, 1, parent, out=self.reorder_buffer)
        self.suffix_k.copy_(self.reorder_buffer)
        torch.index_select(self.suffix_v, 1, parent, out=self.reorder_buffer)
        self.suffix_v.copy_(self.reorder_buffer)


class ExpandedCacheRunner:
    """Any causal LM: the prompt cache repeated for every beam and reordered every step (with
    ``columns``, only their logits are returned)."""

    graph_safe = False

    def __init__(self, model, *, columns=None):
        self.model = model
        self.columns = columns
        self.shape = None
        self.cache_kwarg = _cache_kwarg(model)

    def allocate(self, batch: int, num_beams: int, prompt_len: int, steps: int):
        self.shape = (batch, num_beams, prompt_len, steps)
        return True

    def prefill(self, input_ids, attention_mask, position_ids):
        num_beams = self.shape[1]
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
            **_last_logits_kwargs(self.model),
        )
        self.cache = _output_cache(out)
        self.cache.batch_repeat_interleave(num_beams)
        self.mask = attention_mask.repeat_interleave(num_beams, dim=0)
        self.next_position = (position_ids[:, -1] + 1).repeat_interleave(num_beams)
        return _columns_of(out.logits[:, -1, :], self.columns)

    def step(self, tokens, slot):
        import torch

        s = int(slot)
        ones = torch.ones(
            (self.mask.shape[0], s + 1), dtype=self.mask.dtype, device=self.mask.device
        )
        out = self.model(
            input_ids=tokens[:, None],
            attention_mask=torch.cat((self.mask, ones), 1),
            position_ids=(self.next_position + s)[:, None],
            use_cache=True,
            **{self.cache_kwarg: self.cache},
        )
        self.cache = _output_cache(out)
        return _columns_of(out.logits[:, -1, :], self.columns)

    def reorder(self, parent):
        self.cache.reorder_cache(parent)


SharedPromptRunner.graph_safe = True
