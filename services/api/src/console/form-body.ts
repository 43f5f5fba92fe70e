import { ValidationError, type BatchExport } from '@bx/core';
import type { NextFunction, Request, Response } from 'express';
import type { DestinationField } from './destination-fields';

/** A urlencoded form as express parses it (no nesting: names are the API's field paths). */
export type FormValues = Record<string, string | undefined>;

export const DEST = 'destination.config.';

/**
 * Refuses a posted form that carries a field more than once (400 naming it):
 * the parser makes it an array, which the pages read as text (`.trim()`
 * of an array was a 500). No form of the console sends a name twice.
 */
export function singleValuedForm(req: Request, _res: Response, next: NextFunction): void {
  const body: unknown = req.body;
  const repeated =
    body && typeof body === 'object'
      ? Object.keys(body).filter((k) => typeof (body as FormValues)[k] !== 'string')
      : [];
  if (repeated.length === 0) return next();
  const details = repeated.map((field) => ({ field, message: 'must be given once' }));
  next(new ValidationError(`Invalid form: ${details.map((d) => `${d.field}: ${d.message}`).join('; ')}`, details));
}

/** One event name per line, as the form's hint says (a comma may be part of a name); blank lines dropped. */
export function eventList(text: string | undefined): string[] {
  return (text ?? '')
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * An edit form's event list: the stored one when the textarea still holds
 * what the form showed (browsers send it back with CRLF), so renaming an
 * export does not trim or split the names of its filters.
 */
function editedEventList(text: string | undefined, current: readonly string[]): string[] {
  return (text ?? '').replace(/\r\n/g, '\n') === current.join('\n') ? [...current] : eventList(text);
}

/**
 * A form value as the API's JSON: numbers when they look like one (otherwise
 * the text, so the API names the field), booleans for checkboxes, null for
 * an emptied optional field, undefined to leave it out.
 */
function fieldValue(field: DestinationField, raw: string | undefined, emptyAs: 'omit' | 'null'): unknown {
  if (field.kind === 'checkbox') return raw === 'true';
  const text = (raw ?? '').trim();
  if (text === '') return emptyAs === 'null' && field.nullable ? null : emptyAs === 'null' ? '' : undefined;
  if (field.kind === 'number') return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
  return field.kind === 'textarea' ? (raw ?? '') : text;
}

const numberOrText = (text: string) => (/^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text);

/** The POST /api/exports body of a create form. */
export function createBody(form: FormValues, type: string, fields: DestinationField[]): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const field of fields) {
    const value = fieldValue(field, form[DEST + field.key], 'omit');
    if (value !== undefined) config[field.key] = value;
  }
  const body: Record<string, unknown> = {
    name: form.name ?? '',
    team_id: form.team_id?.trim() ? numberOrText(form.team_id) : undefined,
    interval: form.interval,
    model: form.model || undefined,
    timezone: form.timezone?.trim() || undefined,
    include_events: eventList(form.include_events),
    exclude_events: eventList(form.exclude_events),
    paused: form.paused === 'true',
    start_at: form.start_at?.trim() || undefined,
    end_at: form.end_at?.trim() || undefined,
    destination: { type, config },
  };
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

/**
 * The PATCH body of an edit form: only what changed, so an unchanged
 * connection does not ask for its secrets again; a secret left empty is kept.
 */
export function patchBody(form: FormValues, current: BatchExport, fields: DestinationField[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const changed = (a: unknown, b: unknown) => JSON.stringify(a ?? null) !== JSON.stringify(b ?? null);
  const top: Record<string, unknown> = {
    name: form.name ?? '',
    interval: form.interval,
    timezone: form.timezone?.trim() ?? '',
    include_events: editedEventList(form.include_events, current.include_events),
    exclude_events: editedEventList(form.exclude_events, current.exclude_events),
    end_at: form.end_at?.trim() || null,
  };
  for (const [key, value] of Object.entries(top)) {
    const now = (current as unknown as Record<string, unknown>)[key];
    const same =
      key === 'end_at' && value && now ? Date.parse(String(value)) === Date.parse(String(now)) : !changed(value, now);
    if (!same) patch[key] = value;
  }
  const config: Record<string, unknown> = {};
  const stored = current.destination.config as Record<string, unknown>;
  for (const field of fields) {
    const raw = form[DEST + field.key];
    // A field the form did not send (another version of the form) is left as it is.
    if (raw === undefined && field.kind !== 'checkbox') continue;
    if (field.secret) {
      if (raw !== undefined && raw.trim() !== '') config[field.key] = field.kind === 'textarea' ? raw : raw.trim();
      continue;
    }
    const value = fieldValue(field, raw, 'null');
    const before = stored[field.key] ?? (field.kind === 'checkbox' ? false : null);
    if (changed(value === '' && before === null ? null : value, before)) config[field.key] = value;
  }
  if (Object.keys(config).length) patch.destination = { config };
  return patch;
}
