import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildOpenApiDocument } from './openapi';
import { buildProtocolCatalogue } from './protocol-catalogue';

/** The generated files, relative to the repository root; the drift test compares against these. */
export function generatedDocs(): Record<string, string> {
  return {
    'docs/protocol.md': buildProtocolCatalogue(),
    'docs/openapi.json': `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`,
  };
}

/** `node dist/docs/write-docs.js` (or `npm run docs`): writes docs/protocol.md and docs/openapi.json. */
export function writeDocs(root: string): string[] {
  const written: string[] = [];
  for (const [rel, content] of Object.entries(generatedDocs())) {
    const file = join(root, rel);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, content);
    written.push(rel);
  }
  return written;
}

if (require.main === module) {
  const root = resolve(__dirname, '..', '..');
  for (const rel of writeDocs(root)) console.log(`wrote ${rel}`);
}
