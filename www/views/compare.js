// TODO(stub during development)
export function renderCompare() {}
