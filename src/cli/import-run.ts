import { ApiError, type Api } from './http';
import type { ImportRow } from './import-file';

export interface ImportFailure {
  row: number;
  code: string;
  error: string;
}

export interface ImportSummary {
  total: number;
  created: number;
  failed: ImportFailure[];
}

/** Creates the rows with at most `concurrency` requests in flight; one bad row never stops the rest. */
export async function runImport(
  api: Api,
  key: string | undefined,
  projectId: string,
  rows: ImportRow[],
  onProgress: (done: number, total: number) => void,
  concurrency = 8,
): Promise<ImportSummary> {
  const failed: ImportFailure[] = [];
  let next = 0;
  let done = 0;
  const path = `/api/v1/projects/${encodeURIComponent(projectId)}/tasks`;
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const r = rows[next++];
      try {
        await api.request('POST', path, key, r.task);
      } catch (err) {
        if (err instanceof ApiError) failed.push({ row: r.row, code: err.code, error: err.message });
        else failed.push({ row: r.row, code: 'ERROR', error: err instanceof Error ? err.message : String(err) });
      }
      onProgress(++done, rows.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker));
  failed.sort((a, b) => a.row - b.row);
  return { total: rows.length, created: rows.length - failed.length, failed };
}

/** A redrawn bar on a TTY; elsewhere a plain line every 10% so logs stay readable. */
export function progressReporter(stream: NodeJS.WriteStream): (done: number, total: number) => void {
  let lastPct = -1;
  return (done, total) => {
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    if (stream.isTTY) {
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`);
      if (done === total) stream.write('\n');
    } else if (Math.floor(pct / 10) !== Math.floor(lastPct / 10) || done === total) {
      stream.write(`imported ${done}/${total}\n`);
    }
    lastPct = pct;
  };
}
