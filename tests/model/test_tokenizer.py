from __future__ import annotations

import json
import shutil

import pytest
from conftest import tiny_dir

from econalign.model.tokenizer import encode_continuations, encode_prompts, is_prompt, load_tokenizer, render_prompt


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(tiny_dir("llama"))


def test_chat_messages_use_the_template_with_a_generation_prompt(tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "A or B?"}]
    expected = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nA or B?<|im_end|>\n<|im_start|>assistant\n"
    assert render_prompt(tokenizer, messages) == expected
    assert render_prompt(tokenizer, "raw text") == "raw text"
    ids = encode_prompts(tokenizer, [messages])[0]
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>") and ids.count(2) == 2  # two <|im_end|>
    assert tokenizer.decode(ids) == expected


def test_continuations_are_tokenized_alone_and_must_not_be_empty(tokenizer):
    # The tiny tokenizer has one token per byte, after 3 special tokens: no <|im_start|> or the like is added.
    assert encode_continuations(tokenizer, ["A", " B"]) == [[3 + ord("A")], [3 + ord(" "), 3 + ord("B")]]
    with pytest.raises(ValueError, match="without tokens"):
        encode_continuations(tokenizer, ["A", ""])


def test_tokenizer_without_template_refuses_chat_messages(tmp_path):
    shutil.copytree(tiny_dir("llama"), tmp_path / "m")
    config_path = tmp_path / "m" / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    del config["chat_template"]
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="chat template"):
        render_prompt(load_tokenizer(tmp_path / "m"), [{"role": "user", "content": "hi"}])


def test_is_prompt_tells_one_prompt_from_a_list():
    assert is_prompt("text")
    assert is_prompt([{"role": "user", "content": "hi"}])
    assert not is_prompt(["a", "b"])
    assert not is_prompt([[{"role": "user", "content": "hi"}]])
    assert not is_prompt([])


def test_end_of_turn_is_the_token_the_template_writes_after_a_reply(smollm2_dir):
    from econalign.model.tokenizer import end_of_turn_id, load_tokenizer

    tokenizer = load_tokenizer(smollm2_dir)
    assert tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer)) == "<|im_end|>"
    # A base model's eos (and pad) can differ from the template's turn end (Qwen2.5 base: <|endoftext|>).
    tokenizer.eos_token = tokenizer.pad_token = "<|endoftext|>"
    assert tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer)) == "<|im_end|>"
    # Whitespace before the turn end is skipped.
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n<|im_end|>\n{% endfor %}"
    assert tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer)) == "<|im_end|>"
    # Llama 3: <|eot_id|> is a special token without a name (not in all_special_ids), eos is <|end_of_text|>.
    from tokenizers import AddedToken

    tokenizer.add_tokens([AddedToken("<|eot_id|>", special=True)])
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}<|eot_id|>{% endfor %}"
    assert tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer)) == "<|eot_id|>"
    tokenizer.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    assert end_of_turn_id(tokenizer) == tokenizer.eos_token_id  # the template writes no special token after a reply


def test_loading_a_tokenizer_prints_no_advice_to_install_pytorch(smollm2_dir):
    # econalign uses transformers for tokenizers only: its import-time advice would be noise on every command.
    import os
    import subprocess
    import sys

    code = f"from econalign.model.tokenizer import load_tokenizer; load_tokenizer({str(smollm2_dir)!r})"
    env = {key: value for key, value in os.environ.items() if key != "TRANSFORMERS_NO_ADVISORY_WARNINGS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert "PyTorch" not in result.stderr
