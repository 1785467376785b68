// Parsing of Linear references out of issue descriptions.
import { parseDependencyRefs } from '../board-mapping';

/** Issue numbers of this team named in `Depends on:` lines (`ENG-12`, or `#12`). */
export function refNumbers(description: string, teamKey: string): number[] {
  const out: number[] = [];
  for (const ref of parseDependencyRefs(description)) {
    const m = /^(?:#|([A-Za-z][A-Za-z0-9_]*)-)(\d+)$/.exec(ref);
    if (!m || (m[1] !== undefined && m[1].toUpperCase() !== teamKey.toUpperCase())) continue;
    const n = Number(m[2]);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}
