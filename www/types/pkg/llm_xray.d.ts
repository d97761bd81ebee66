// The types of www/pkg/llm_xray.js, which wasm-bindgen generates from src/wasm.rs at build
// time (git-ignored): declared here by hand so that `npm run lint` checks the worker against
// the binding on a clean clone, before any build. tsconfig's rootDirs lays www/types/ over
// www/, so `./pkg/llm_xray.js` resolves to this file. Keep it in step with src/wasm.rs.

import type { Request, Footprint, ModelInfo, HeadEntry, TrainSettings, TrainPlan, TrainProgress, TrainFile } from '../../protocol.js';

/** Loads and instantiates the wasm module (beside the generated JS). */
export default function init(module?: unknown): Promise<{ memory: WebAssembly.Memory }>;

/** What a model will take once loaded, from its config.json and the size of its
 * model.safetensors (16-bit weights stay 16-bit in it). Throws {kind, message}. */
export function footprintOfConfig(config: Uint8Array, weightsLen: number): Footprint;
/** The same from the first bytes of a GGUF file of `fileLen` bytes. Throws {kind, message}. */
export function footprintOfGguf(prefix: Uint8Array, fileLen: number, name: string): Footprint;

/** One model file's bytes, written into wasm memory as it downloads. */
export class FileBytes {
  constructor(expected: number);
  push(chunk: Uint8Array): void;
  free(): void;
}

/** The model in the tab and its context. */
export class Xray {
  static fromFolder(config: FileBytes, weights: FileBytes, tokenizer: FileBytes, progress: (done: number, total: number) => void): Xray;
  static fromGguf(file: FileBytes, name: string, progress: (done: number, total: number) => void): Xray;
  /** A second context on the same model, on the CPU. */
  fork(): Xray;
  info(): ModelInfo;
  /** The number of the context's run answers are computed from (0: none yet). */
  readonly run: number;
  /** Answers an engine request (protocol.js REQUESTS) with its result. */
  request(request: Request): Promise<unknown>;
  censusStart(): void;
  censusStep(): Promise<{ done: number; total: number; heads: HeadEntry[] | null }>;
  free(): void;
}

/** The Train stage's starting settings (src/train/recipe.rs) and the vocabulary size of a
 * tokenizer.json (src/wasm_train.rs). Throws {kind, message}. */
export function trainDefaults(tokenizerJson: Uint8Array): { settings: TrainSettings; vocab: number };
/** The learned-parameter count and memory of training `settings`. Throws {kind, message}. */
export function trainPlan(settings: TrainSettings, vocab: number): TrainPlan;

/** A training run in the tab (src/session/train.rs TrainRun). */
export class Training {
  /** Throws {kind, message} for settings it cannot train (too big, empty text, …). */
  constructor(settings: TrainSettings, tokenizerJson: Uint8Array);
  readonly steps: number;
  /** Trains for about `ms` milliseconds (at most `maxSteps` steps), then what to draw
   * (the census, pictures and held-out loss only when `measure`). */
  advance(ms: number, maxSteps: number, measure: boolean): TrainProgress;
  /** config.json, model.safetensors and tokenizer.json as they are now. */
  files(): TrainFile[];
  free(): void;
}
