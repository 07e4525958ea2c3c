/**
 * fetch for the SDK's HTTP client transport in tests and benchmarks. The transport passes one
 * long-lived signal to every request, and undici only drops its abort listener when the request is
 * garbage collected, so under load thousands of listeners pile up on that one signal (each add then
 * costs O(listeners)). A derived signal per request (AbortSignal.any holds its source weakly) keeps
 * the transport's abort-on-close behaviour without the pile-up.
 */
export const fetchWithOwnSignal = (url: string | URL, init?: RequestInit): Promise<Response> =>
  fetch(url, init?.signal ? { ...init, signal: AbortSignal.any([init.signal]) } : init);
