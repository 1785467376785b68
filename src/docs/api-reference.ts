import { fieldsOf } from './protocol-catalogue';
import { HTTP_ROUTES, type HttpRoute } from './http-routes';

// The human-readable HTTP reference at /api/docs, rendered from the same route table and zod
// schemas as the OpenAPI document: plain HTML, no script, one stylesheet, every value escaped.

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// The route summaries use `code` spans in Markdown style.
const inline = (s: string) => esc(s).replace(/`([^`]+)`/g, '<code>$1</code>');

const AUTH: Record<HttpRoute['auth'], string> = {
  admin: 'admin key',
  project: 'admin key or the project API key',
  none: 'none',
};

function body(route: HttpRoute): string {
  if (!route.body) return '';
  const rows = fieldsOf(route.body.schema)
    .map((f) => `<tr><td><code>${esc(f.name)}</code></td><td>${esc(f.type)}</td><td>${f.required ? 'yes' : 'no'}</td><td>${esc(f.constraints || '—')}</td></tr>`)
    .join('');
  return `<h4>Body <code>${esc(route.body.name)}</code> (JSON)</h4><table><thead><tr><th>field</th><th>type</th><th>required</th><th>constraints</th></tr></thead><tbody>${rows}</tbody></table>`;
}

export function renderApiReference(version: string): string {
  const ops = HTTP_ROUTES.map((r) => {
    const responses = Object.entries(r.responses)
      .map(([code, text]) => `<li><span class="status s${code[0]}">${esc(code)}</span> ${inline(text)}</li>`)
      .join('');
    return `<section id="${esc(`${r.method}-${r.path}`)}"><h3><span class="method ${esc(r.method)}">${esc(r.method.toUpperCase())}</span> <code>${esc(r.path)}</code></h3>
<p>${inline(r.summary)}</p><p class="auth">Authorization: ${esc(AUTH[r.auth])}${r.auth === 'none' ? '' : ' (<code>Authorization: Bearer &lt;key&gt;</code>)'}</p>${body(r)}<h4>Answers</h4><ul>${responses}</ul></section>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pm-agent HTTP API ${esc(version)}</title><link rel="stylesheet" href="/api/docs/reference.css"></head>
<body><header><h1>pm-agent HTTP API <small>${esc(version)}</small></h1>
<p>Machine-readable: <a href="/api/docs/openapi.json">OpenAPI 3.1 document</a>. Errors are JSON <code>{error, code}</code>. The agent socket protocol is in <code>docs/protocol.md</code>.</p></header>
<main>${ops}</main></body></html>
`;
}

export const API_REFERENCE_CSS = `body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2433;background:#f5f7fb}
header{background:#fff;border-bottom:1px solid #dde3ee;padding:16px 32px}h1{margin:0;font-size:22px}h1 small{color:#6b7488;font-weight:400}
main{max-width:1000px;margin:0 auto;padding:16px 32px}section{background:#fff;border:1px solid #dde3ee;border-radius:8px;padding:12px 20px;margin:14px 0}
h3{margin:4px 0;font-size:16px}h4{margin:10px 0 4px;font-size:13px;text-transform:uppercase;color:#6b7488}
.method{display:inline-block;min-width:58px;text-align:center;border-radius:4px;color:#fff;font-size:12px;padding:2px 6px;margin-right:6px}
.get{background:#2f6fde}.post{background:#1f9d55}.put{background:#c77c02}.delete{background:#d64545}.patch{background:#7a4fd6}
code{background:#eef1f7;border-radius:3px;padding:0 4px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e6eaf2;text-align:left;padding:4px 8px;vertical-align:top}ul{margin:4px 0;padding-left:18px}
.status{font-weight:600}.s2{color:#1f9d55}.s4{color:#c77c02}.s5{color:#d64545}.auth{color:#6b7488;font-size:13px}
`;
