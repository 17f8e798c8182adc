// ESLint over every hand-written source: typescript-eslint's type-checked rules (floating
// promises, unused values, unsafe `any`), and the layering of docs/architecture.md as import
// rules. Formatting is Prettier's; `npm run lint` runs both.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import globals from "globals";
import tseslint from "typescript-eslint";
import { LAYER_RULES } from "./test/helpers/layers.js";

/** Folders below a layer's top folder that a source file may sit in (worker/model/x.ts is 1). */
const MAX_SUBFOLDERS = 5;

/**
 * no-restricted-imports for each layer in LAYER_RULES (test/helpers/layers.js, shared with
 * test/unit/imports.test.ts). A relative import from a file n folders deep reaches the top-level
 * folder that follows its n leading "../", so there is one block per depth.
 */
function layerImportRules() {
  return Object.entries(LAYER_RULES).flatMap(([layer, forbidden]) =>
    Array.from({ length: MAX_SUBFOLDERS + 1 }, (_, depth) => ({
      name: `cna-sweep/layers/${layer}/${depth}`,
      files: [`${layer}/${"*/".repeat(depth)}*.{ts,js,mjs}`],
      rules: {
        "no-restricted-imports": [
          "error",
          {
            patterns: [
              {
                regex: `^(\\./)?(\\.\\./){${depth + 1}}(${forbidden.join("|")})(/|$)`,
                message: `${layer}/ must not import ${forbidden.map((f) => `${f}/`).join(", ")} (docs/architecture.md, the layers).`,
              },
            ],
          },
        ],
      },
    })),
  );
}

export default defineConfig(
  {
    // generated (proto/gen), data (models, fixtures) and outputs
    ignores: [
      "node_modules/",
      "proto/gen/",
      "models/",
      "test/fixtures/",
      "test/artifacts/",
      "out/",
      "cna-out/",
      "scratch/",
      "dist/",
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: {
        projectService: { allowDefaultProject: ["eslint.config.js"] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      // `let x; ... () => x?.f(); ... x = new X(...)`: a callback built before x exists must see it when called.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      // `_name` marks a parameter an interface requires, and `{ dropped: _x, ...rest }` omits a field.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", ignoreRestSiblings: true }],
      // An async method that implements an async seam (ShardQueue, ResultSink) keeps its throws as rejections.
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    files: ["test/**"],
    rules: {
      // Tests read JSON, YAML and the browser's DOM as `any`, and vitest's matchers are `any`: the assertions are the check.
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      // unary(client, client.method, request) passes a generated client's method with its client and calls it bound.
      "@typescript-eslint/unbound-method": "off",
    },
  },
  layerImportRules(),
);
