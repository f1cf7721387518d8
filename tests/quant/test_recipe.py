"""Recipes: the YAML form, its errors, what each step does per layer, and legality under a contract."""

from __future__ import annotations

import pytest

from accelsim.errors import InputError
from accelsim.hardware import load_profile
from accelsim.quant.recipe import LayerRecipe, Recipe, check_recipe, parse_recipe

LAYERS = [("fc1", "linear"), ("scores", "matmul"), ("fc2", "linear"), ("conv", "conv2d")]


def test_yaml_round_trip():
    r = parse_recipe([{"calibration": {"method": "percentile", "percentile": 99.9}}, {"smoothquant": {"alpha": 0.6}},
                      "gptq", {"dynamic": {"granularity": "per_token", "layers": ["fc*"]}},
                      {"mixed_precision": {"type": "fp16", "layers": ["fc2"]}}])
    import yaml

    again = parse_recipe(yaml.safe_load(r.dump()))
    assert again.steps == r.steps
    assert again.text == r.text


def test_per_layer_steps():
    r = parse_recipe(["float_output", {"smoothquant": {"alpha": 0.5}}, "bias_correction",
                      {"mixed_precision": {"type": "int16", "layers": ["fc2", "conv"]}},
                      {"calibration": {"method": "mse"}}])
    per = r.per_layer(LAYERS)
    assert per["fc1"] == LayerRecipe(output="float", smooth_alpha=0.5, bias_correction=True, calibration="mse")
    assert per["fc2"].widen == "int16" and per["conv"].widen == "int16"
    assert per["scores"] == LayerRecipe(calibration="mse")      # weight steps and float outputs: linear layers only
    assert per["conv"].output == "integer" and not per["conv"].bias_correction
    assert Recipe().per_layer(LAYERS)["fc1"].naive


@pytest.mark.parametrize("data, field", [
    ([{"smoothquant": {"alpha": 1.5}}], "recipe.steps.0.smoothquant.alpha"),
    (["quantize_everything"], "recipe.steps.0"),
    ([{"gptq": {"blocks": 3}}], "recipe.steps.0.gptq.blocks"),
    ([{"dynamic": {"granularity": "per_channel"}}], "recipe.steps.0.dynamic.granularity"),
    ([{"calibration": {}}], "recipe.steps.0.calibration.method"),
    ([{"mixed_precision": {"layers": ["a"]}}], "recipe.steps.0.mixed_precision.type"),
    ({"steps": "gptq"}, "recipe.steps"),
    ({"steps": [], "alpha": 1}, "recipe.alpha"),
])
def test_bad_recipes_name_the_field(data, field):
    with pytest.raises(InputError) as e:
        parse_recipe(data, source="r.yaml")
    assert e.value.field == field
    assert "\n" not in str(e.value)


def test_legality_follows_the_contract():
    per_token = parse_recipe([{"dynamic": {"granularity": "per_token"}}])
    assert check_recipe(per_token, load_profile("tensorcore-int8"), LAYERS).legal
    problems = check_recipe(per_token, load_profile("onnxruntime-cpu"), LAYERS).problems
    assert len(problems) == 1 and "per_token" in problems[0]
    assert check_recipe(parse_recipe([{"dynamic": {"granularity": "per_tensor"}}]), load_profile("onnxruntime-cpu"),
                        LAYERS).legal
    assert not check_recipe(parse_recipe(["float_output"]), load_profile("tflite-int8"), LAYERS).legal
    assert not check_recipe(parse_recipe(["float_output"]), load_profile("edge-npu-pot16"), LAYERS).legal
    fp16 = parse_recipe([{"mixed_precision": {"type": "fp16"}}])
    assert check_recipe(fp16, load_profile("h100-sxm"), LAYERS).legal
    assert not check_recipe(fp16, load_profile("onnxruntime-cpu"), LAYERS).legal
    assert check_recipe(parse_recipe([{"mixed_precision": {"type": "int16"}}]), load_profile("ethos-u55"), LAYERS).legal
    nowhere = parse_recipe([{"gptq": {"layers": ["nope*"]}}])
    assert "matches no layer" in check_recipe(nowhere, load_profile("tensorcore-int8"), LAYERS).problems[0]
