import { parseBlobList as oldParse } from '/tmp/azgcs-oldparse.ts';
import { parseBlobList as newParse } from './src/internal/lean.ts';
import { XMLParser } from 'fast-xml-parser';
function page(n: number): string {
  let xml = '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="artifacts-it"><Prefix>root/bench/small/</Prefix><MaxResults>5000</MaxResults><Blobs>';
  for (let i = 0; i < n; i++) {
    xml += `<Blob><Name>root/bench/small/d${i % 10}/file &amp; ${i}.bin</Name><Properties><Creation-Time>Tue, 01 Dec 2026 00:00:00 GMT</Creation-Time><Last-Modified>Tue, 01 Dec 2026 00:00:00 GMT</Last-Modified><Etag>0x8DC${i}</Etag><Content-Length>${1024 + i}</Content-Length><Content-Type>application/octet-stream</Content-Type><Content-Encoding /><Content-Language /><Content-CRC64 /><Content-MD5>1B2M2Y8AsgTpgAmY7PhCfg==</Content-MD5><Cache-Control /><Content-Disposition /><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties><Metadata>${i % 7 ? '' : '<hdi_isfolder>true</hdi_isfolder>'}</Metadata><OrMetadata /></Blob>`;
  }
  return xml + '</Blobs><BlobPrefix><Name>p/</Name></BlobPrefix><NextMarker>m!1</NextMarker></EnumerationResults>';
}
const full = new XMLParser({ parseTagValue: false, trimValues: false, htmlEntities: true, ignoreAttributes: false, attributeNamePrefix: '', isArray: (n: string) => n === 'Blob' || n === 'BlobPrefix' });
for (const n of [500, 5000]) {
  const text = page(n);
  const a = oldParse(text); const b = newParse(text);
  const same = JSON.stringify(a.blobs.map((x) => [x.name, x.size, x.metadata.hdi_isfolder === 'true'])) === JSON.stringify(b.blobs.map((x) => [x.name, x.size, x.folder])) && a.next === b.next;
  if (!same) throw new Error('differ');
  for (const [name, fn] of [['scanner (before)', oldParse], ['fast-xml-parser, whole document', (t: string) => full.parse(t)], ['fast-xml-parser, properties as text (now)', newParse]] as const) {
    for (let i = 0; i < 2; i++) fn(text);
    const rounds = n === 500 ? 20 : 4;
    const t = process.cpuUsage();
    for (let i = 0; i < rounds; i++) fn(text);
    const u = process.cpuUsage(t);
    console.log(`${n} blobs (${(text.length / 1024).toFixed(0)} KiB): ${name}: ${((u.user + u.system) / 1000 / rounds).toFixed(1)} ms CPU per page`);
  }
}
