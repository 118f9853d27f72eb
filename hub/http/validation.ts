/**
 * Request validation with fastify JSON schemas (body, params, querystring) and our own Ajv: no
 * type coercion and unknown fields refused rather than silently dropped (fastify's default Ajv
 * coerces and removes). The schemas are also what /api/openapi.json describes.
 *
 * A failure answers in the hub's one error shape (hub/http/errors.ts), naming the field first:
 *   { error: 'bad-request', message: 'body.note: is required', field: 'note' }
 * The application's routes name a body field by its key ('note', 'scores.attitude'), as its
 * hand-written checks did; the root of a body is 'body'.
 */

import { Ajv, type ErrorObject } from 'ajv';
import type { FastifyInstance } from 'fastify';

/** The compact field types of the application's bodies; '?' marks an optional field, which may also be null. */
export type FieldType = 'string' | 'string?' | 'number' | 'number?' | 'integer' | 'integer?' | 'boolean' | 'boolean?' | 'object' | 'object?' | 'array' | 'array?';

/** Text fields are bounded; a body is at most 64 KiB anyway (the server's bodyLimit). */
export const MAX_TEXT = 4000;

const JSON_TYPE: Record<string, Record<string, unknown>> = {
  string: { type: 'string', maxLength: MAX_TEXT },
  number: { type: 'number' },
  // JSON numbers past 2^53 lose digits in JavaScript.
  integer: { type: 'integer', minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
  boolean: { type: 'boolean' },
  object: { type: 'object' },
  array: { type: 'array' },
};

/** A JSON object schema from compact field types: every listed field of its type, nothing unknown. */
export function objectSchema(fields: Record<string, FieldType | Record<string, unknown>>): { type: 'object'; required: string[]; properties: Record<string, unknown>; additionalProperties: false } {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [key, type] of Object.entries(fields)) {
    if (typeof type !== 'string') {
      properties[key] = type;
      continue;
    }
    const optional = type.endsWith('?');
    properties[key] = { ...JSON_TYPE[type.replace('?', '')], ...(optional ? { nullable: true } : {}) };
    if (!optional) required.push(key);
  }
  return { type: 'object', required, properties, additionalProperties: false };
}

/** Path parameters, each a string (documented in OpenAPI; the feature checks what they name). */
export function paramsSchema(...names: string[]): Record<string, unknown> {
  return { type: 'object', required: names, properties: Object.fromEntries(names.map((n) => [n, { type: 'string', minLength: 1, maxLength: 200 }])) };
}

/** Query parameters: strings, optional; unknown ones are ignored, as they always were. */
export function querySchema(properties: Record<string, Record<string, unknown>>, required: string[] = []): Record<string, unknown> {
  return { type: 'object', required, properties };
}

const ARTICLE: Record<string, string> = { integer: 'an integer', array: 'an array', object: 'an object' };

/** "body.scores.attitude: must be a number" and the field it names ('scores.attitude'; 'body' for the body itself). */
export function describeValidation(errors: ErrorObject[], context: string): { message: string; field: string } {
  const e = errors[0];
  const segments = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const params = e.params as Record<string, unknown>;
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'required') {
    segments.push(params.missingProperty as string);
    message = 'is required';
  } else if (e.keyword === 'additionalProperties') {
    segments.push(params.additionalProperty as string);
    message = 'is not a known field';
  } else if (e.keyword === 'enum') {
    message = `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
  } else if (e.keyword === 'type') {
    const type = String(params.type).split(',')[0];
    message = segments.length === 0 && type === 'object' ? 'expected a JSON object' : `must be ${ARTICLE[type] ?? `a ${type}`}`;
  } else if (e.keyword === 'pattern' && typeof (e.parentSchema as { description?: unknown } | undefined)?.description === 'string') {
    // A pattern reads as what it expects: { pattern: '^\\d{4}$', description: 'YYYY' } → "expected YYYY".
    message = `expected ${(e.parentSchema as { description: string }).description}`;
  } else if (e.keyword === 'maxLength') {
    message = `must be at most ${params.limit as number} characters`;
  } else if (e.keyword === 'minimum' || e.keyword === 'maximum') {
    message = segments.length && Math.abs(params.limit as number) === Number.MAX_SAFE_INTEGER ? 'must be an integer' : message;
  }
  const path = segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join('');
  return { message: `${context}${path}: ${message}`, field: path ? path.slice(1) : context };
}

/** Our Ajv: no coercion, nothing removed; strict false, as OpenAPI's own keywords (description, example) sit in the same schemas. */
export function strictAjv(options: { allErrors?: boolean } = {}): Ajv {
  return new Ajv({ allErrors: options.allErrors ?? false, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false, verbose: true });
}

/** Validates the routes of `scope` (and of the scopes it registers) with our Ajv; failures name their field. */
export function useJsonSchemas(scope: FastifyInstance): void {
  const ajv = strictAjv();
  scope.setValidatorCompiler(({ schema }) => ajv.compile(schema));
  scope.setSchemaErrorFormatter((errors, context) => {
    const { message, field } = describeValidation(errors as ErrorObject[], context);
    return Object.assign(new Error(message), { field });
  });
}
