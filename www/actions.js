// What views can ask for; main.js fills these in (they talk to the worker).
export const actions = {
  /** Re-shapes the next-token distribution with the current sampling settings. */
  distribution: async () => null,
  /** Generates one token after the first `state.at` tokens. */
  generate: async () => {},
  /** Switches the backend: 'auto' | 'webgpu' | 'cpu'. */
  setBackend: async () => {},
  /** Loads another model folder. */
  loadModel: async () => {},
};
