/** A task row as sent to POST /api/v1/projects/{id}/tasks; `row` is 1-based in the source file. */
export interface ImportRow {
  row: number;
  task: Record<string, unknown>;
}

export class ImportParseError extends Error {
  constructor(
    readonly row: number | null,
    message: string,
  ) {
    super(row === null ? message : `row ${row}: ${message}`);
    this.name = 'ImportParseError';
  }
}

export type ImportFormat = 'json' | 'yaml' | 'csv';

export function formatOf(path: string): ImportFormat {
  const ext = /\.([a-z]+)$/i.exec(path)?.[1]?.toLowerCase();
  if (ext === 'json') return 'json';
  if (ext === 'yaml' || ext === 'yml') return 'yaml';
  if (ext === 'csv') return 'csv';
  throw new ImportParseError(null, `unsupported file type (want .json, .yaml, .yml or .csv): ${path}`);
}

/** Pure: file text → task rows. Field validation beyond shape is left to the server. */
export async function parseImport(text: string, format: ImportFormat): Promise<ImportRow[]> {
  if (format === 'csv') return parseCsvTasks(text);
  const parse: (t: string) => unknown = format === 'json' ? JSON.parse : await loadYaml();
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ImportParseError(null, `invalid ${format.toUpperCase()}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(doc)) throw new ImportParseError(null, `expected a list of tasks at the top level`);
  return doc.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new ImportParseError(i + 1, 'expected a task object');
    return { row: i + 1, task: item as Record<string, unknown> };
  });
}

const CSV_COLUMNS = ['name', 'description', 'priority', 'labels'] as const;

/** CSV with a header row; rows are numbered by data row (header excluded). */
export function parseCsvTasks(text: string): ImportRow[] {
  const records = parseCsv(text);
  const header = records.shift()?.map((h) => h.trim().toLowerCase());
  if (!header || !header.includes('name')) throw new ImportParseError(null, 'CSV header must include a "name" column');
  const unknown = header.filter((h) => !(CSV_COLUMNS as readonly string[]).includes(h));
  if (unknown.length > 0) throw new ImportParseError(null, `unknown CSV column(s): ${unknown.join(', ')}`);
  const out: ImportRow[] = [];
  records.forEach((fields, i) => {
    const row = i + 1;
    if (fields.length === 1 && fields[0] === '') return; // blank line
    if (fields.length !== header.length) throw new ImportParseError(row, `expected ${header.length} fields, got ${fields.length}`);
    const task: Record<string, unknown> = {};
    header.forEach((col, j) => {
      const v = fields[j];
      if (col === 'labels') task.labels = v.split(';').map((l) => l.trim()).filter((l) => l !== '');
      else if (v !== '' || col === 'name') task[col] = v;
    });
    if (String(task.name).trim() === '') throw new ImportParseError(row, 'name is empty');
    out.push({ row, task });
  });
  return out;
}

/** RFC 4180: quoted fields may hold commas, newlines and doubled quotes. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let fields: string[] = [];
  let quoted = false;
  let i = 0;
  const src = text.replace(/^\uFEFF/, '');
  while (i < src.length) {
    const c = src[i];
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && src[i + 1] === '\n') i++;
      fields.push(field);
      records.push(fields);
      fields = [];
      field = '';
    } else field += c;
    i++;
  }
  if (quoted) throw new ImportParseError(records.length, 'unterminated quoted field');
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    records.push(fields);
  }
  return records;
}

/** `yaml` is a dev dependency: loaded only for YAML files so JSON/CSV work in a production install. */
async function loadYaml(): Promise<(t: string) => unknown> {
  try {
    const mod = await import('yaml');
    return (t): unknown => mod.parse(t) as unknown;
  } catch {
    throw new ImportParseError(null, 'YAML import needs the "yaml" package (npm install yaml); use JSON or CSV instead');
  }
}
