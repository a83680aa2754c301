/**
 * Frees a buffer that nothing else holds now, rather than at the garbage collector's next pass: its
 * ArrayBuffer is detached (`transfer(0)`), which drops the memory at once. Only a buffer that is a
 * whole ArrayBuffer of its own (not a view into a shared one, such as Node's 8 KiB pool) is freed;
 * without `transfer` (Node 20) it is left to the collector. Byte-heavy paths make such garbage by
 * the tens of MiB between two collections (Node's HTTP client: one new buffer per socket read and a
 * copy of each body chunk), which is most of a large download's memory when left to the collector.
 */
export function release(buffer: Uint8Array): void {
  // Empty: nothing to free (and a buffer freed already reads as empty).
  if (buffer.byteLength === 0 || !ownsBuffer(buffer)) return;
  (buffer.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer }).transfer?.(0);
}

/** Whether `release` would free `buffer`: it is a whole ArrayBuffer. */
export function ownsBuffer(buffer: Uint8Array): boolean {
  return buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength;
}
