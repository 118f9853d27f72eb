/**
 * The one CSV reader (RFC 4180 through csv-parse: quoted cells, doubled quotes, CRLF or LF, a
 * BOM) for every CSV a person hands the hub or the CLI: the commitments import and the CLI's
 * devices file. Rows come with the line they start on, so an error can name it; blank lines
 * are skipped. A malformed file throws CsvError naming the line (and the column where known).
 */

import { parse, CsvError as ParseError } from 'csv-parse/sync';

export interface CsvRow { line: number; cells: string[] }

export class CsvError extends Error {
  constructor(message: string, readonly line: number) {
    super(message);
    this.name = 'CsvError';
  }
}

export function readCsv(text: string): CsvRow[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true, info: true, relax_column_count: true, skip_empty_lines: true,
      // A file edited on two systems may mix line ends; both end a record.
      record_delimiter: ['\r\n', '\n'],
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    const e = error as ParseError & { lines?: number; column?: number };
    const line = Number(e.lines ?? 0) || 1;
    const column = typeof e.column === 'number' ? e.column + 1 : undefined;
    if (e.code === 'CSV_QUOTE_NOT_CLOSED') throw new CsvError(`line ${line}: a quoted cell is not closed`, line);
    if (e.code === 'INVALID_OPENING_QUOTE') throw new CsvError(`line ${line}${column ? `, column ${column}` : ''}: a quote inside an unquoted cell`, line);
    if (e.code === 'CSV_INVALID_CLOSING_QUOTE') throw new CsvError(`line ${line}${column ? `, column ${column}` : ''}: text after a quoted cell's closing quote`, line);
    throw new CsvError(`line ${line}: ${e.message}`, line);
  }
  // info.lines is the line a record ends on; a quoted cell may span lines.
  return records.map(({ record, info }) => ({ line: info.lines - record.reduce((n, c) => n + (c.match(/\n/g)?.length ?? 0), 0), cells: record }));
}
