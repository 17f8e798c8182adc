import { describe, expect, it } from "vitest";
import { parseModelConfig } from "../../worker/model/index.ts";

const PATH = "/models/x/config.json";
const zoo = {
  architectures: ["GPT2LMHeadModel"], model_type: "gpt2", n_layer: 2, n_head: 4, n_embd: 64, n_inner: 256,
  n_positions: 64, n_ctx: 64, vocab_size: 50, layer_norm_epsilon: 1e-5, activation_function: "gelu_new",
  tie_word_embeddings: true,
};

function thrown(fn: () => unknown): Error & Record<string, unknown> {
  try {
    fn();
  } catch (err) {
    return err as Error & Record<string, unknown>;
  }
  throw new Error("expected an error");
}

describe("parseModelConfig", () => {
  it("parses a zoo config.json", () => {
    expect(parseModelConfig(zoo, PATH)).toEqual({
      architecture: "gpt2", nLayer: 2, nHead: 4, dModel: 64, dHead: 16, dMlp: 256, nPositions: 64,
      vocabSize: 50, layerNormEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true,
    });
  });

  it("applies GPT2Config defaults to optional fields (n_inner null = 4*n_embd)", () => {
    const { layer_norm_epsilon, activation_function, tie_word_embeddings, ...bare } = zoo;
    void [layer_norm_epsilon, activation_function, tie_word_embeddings];
    const config = parseModelConfig({ ...bare, n_inner: null }, PATH);
    expect(config).toMatchObject({ dMlp: 256, layerNormEps: 1e-5, activation: "gelu_new", tiedEmbeddings: true });
    expect(parseModelConfig({ ...zoo, activation_function: "gelu_pytorch_tanh" }, PATH).activation).toBe("gelu_new");
    expect(parseModelConfig({ ...zoo, activation_function: "gelu", tie_word_embeddings: false }, PATH)).toMatchObject({ activation: "gelu", tiedEmbeddings: false });
  });

  it("refuses other architectures with the supported list", () => {
    for (const modelType of ["llama", "gptj", "gpt_neox", "mistral", "bert"]) {
      const err = thrown(() => parseModelConfig({ ...zoo, model_type: modelType }, PATH));
      expect(err).toMatchObject({ name: "UnsupportedArchitectureError", code: "UNSUPPORTED_ARCHITECTURE", retryable: false, path: PATH, architecture: modelType });
      expect(err.message).toBe(`unsupported architecture "${modelType}" in /models/x/config.json (supported: gpt2)`);
    }
  });

  it("names the bad or missing field", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ model_type: undefined }, "model_type"],
      [{ n_layer: undefined }, "n_layer"],
      [{ n_head: 0 }, "n_head"],
      [{ n_embd: "64" }, "n_embd"],
      [{ n_inner: 2.5 }, "n_inner"],
      [{ n_positions: -1 }, "n_positions"],
      [{ vocab_size: null }, "vocab_size"],
      [{ n_head: 3 }, "n_head"], // 64 is not divisible by 3
      [{ layer_norm_epsilon: 0 }, "layer_norm_epsilon"],
      [{ activation_function: "relu" }, "activation_function"],
      [{ tie_word_embeddings: "yes" }, "tie_word_embeddings"],
    ];
    for (const [patch, field] of cases) {
      const err = thrown(() => parseModelConfig({ ...zoo, ...patch }, PATH));
      expect(err).toMatchObject({ name: "BadConfigError", code: "BAD_CONFIG", field, path: PATH, retryable: false });
      expect(err.message).toContain(field);
      expect(err.message).toContain(PATH);
    }
    expect(thrown(() => parseModelConfig([], PATH))).toMatchObject({ code: "BAD_CONFIG" });
    expect(thrown(() => parseModelConfig({ ...zoo, activation_function: "relu" }, PATH)).message).toContain("gelu_new");
  });
});
