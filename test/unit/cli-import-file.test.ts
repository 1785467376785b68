import { describe, expect, it } from 'vitest';
import { formatOf, ImportParseError, parseCsv, parseCsvTasks, parseImport } from '../../src/cli/import-file';

describe('cli import-file parsing', () => {
  it('picks the format from the extension', () => {
    expect(formatOf('a/b.JSON')).toBe('json');
    expect(formatOf('x.yml')).toBe('yaml');
    expect(formatOf('x.yaml')).toBe('yaml');
    expect(formatOf('x.csv')).toBe('csv');
    expect(() => formatOf('x.txt')).toThrow(ImportParseError);
  });

  it('parses a JSON array of task objects with 1-based row numbers', async () => {
    const rows = await parseImport('[{"name":"a","priority":"high"},{"name":"b","labels":["x"]}]', 'json');
    expect(rows).toEqual([
      { row: 1, task: { name: 'a', priority: 'high' } },
      { row: 2, task: { name: 'b', labels: ['x'] } },
    ]);
  });

  it('rejects bad JSON documents and non-object rows with typed errors', async () => {
    await expect(parseImport('{"name":"a"}', 'json')).rejects.toThrow(/list of tasks/);
    await expect(parseImport('[1', 'json')).rejects.toThrow(/invalid JSON/);
    const err: unknown = await parseImport('[{"name":"a"}, "b"]', 'json').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImportParseError);
    expect((err as ImportParseError).row).toBe(2);
  });

  it('parses a YAML list', async () => {
    const rows = await parseImport('- name: a\n  priority: low\n  labels: [x, y]\n- name: "b: c"\n  description: |\n    two\n    lines\n', 'yaml');
    expect(rows).toEqual([
      { row: 1, task: { name: 'a', priority: 'low', labels: ['x', 'y'] } },
      { row: 2, task: { name: 'b: c', description: 'two\nlines\n' } },
    ]);
    await expect(parseImport('name: a', 'yaml')).rejects.toThrow(/list of tasks/);
    await expect(parseImport('- [a\n', 'yaml')).rejects.toThrow(/invalid YAML/);
  });

  it('parses CSV with quoted fields, commas and quotes in quotes, newlines and ; labels', async () => {
    const text = 'name,description,priority,labels\r\n"Fix, then ship","He said ""hi""",high,a;b; c\nplain,"multi\nline",,\n\n';
    expect(await parseImport(text, 'csv')).toEqual([
      { row: 1, task: { name: 'Fix, then ship', description: 'He said "hi"', priority: 'high', labels: ['a', 'b', 'c'] } },
      { row: 2, task: { name: 'plain', description: 'multi\nline', labels: [] } },
    ]);
  });

  it('allows a subset of columns in any order', async () => {
    expect(await parseImport('labels,name\nx,one\n', 'csv')).toEqual([{ row: 1, task: { labels: ['x'], name: 'one' } }]);
  });

  it('reports bad CSV rows with their row number', () => {
    // CSV parsing is synchronous underneath; parseCsvTasks throws directly.
    const bad = (text: string): ImportParseError => {
      try {
        parseCsvTasks(text);
      } catch (e) {
        if (e instanceof ImportParseError) return e;
        throw e;
      }
      throw new Error('expected an ImportParseError');
    };
    expect(bad('name,priority\na,low\nb\n')).toMatchObject({ row: 2, message: 'row 2: expected 2 fields, got 1' });
    expect(bad('name,priority\na,low\n ,high\n')).toMatchObject({ row: 2 });
    expect(bad('title\nx\n')).toMatchObject({ row: null, message: expect.stringMatching(/name/) });
    expect(bad('name,colour\nx,red\n')).toMatchObject({ row: null, message: expect.stringMatching(/colour/) });
    expect(bad('name\n"open\n')).toMatchObject({ message: expect.stringMatching(/unterminated/) });
  });

  it('low-level CSV keeps empty fields', () => {
    expect(parseCsv('a,,c\n,,\n')).toEqual([
      ['a', '', 'c'],
      ['', '', ''],
    ]);
  });
});
