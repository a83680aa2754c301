import http from 'node:http';
const sym = Symbol.for('@artifacts/release-chunk');
let tagged = 0, plain = 0, sizes = new Map();
const w = http.ClientRequest.prototype.write;
http.ClientRequest.prototype.write = function (chunk, ...rest) {
  if (chunk && chunk[sym]) tagged++; else plain++;
  sizes.set(chunk?.length, (sizes.get(chunk?.length) ?? 0) + 1);
  return w.call(this, chunk, ...rest);
};
process.on('exit', () => console.log({ tagged, plain, sizes: [...sizes].slice(0, 5) }));
await import('./trk-mem.mjs');
