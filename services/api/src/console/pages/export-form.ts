import { INTERVALS, type BatchExport } from '@bx/core';
import { MODEL_CHOICES } from '@bx/models';
import { destinationFields, destinationTypes, modelNames, type DestinationField } from '../destination-fields';
import { DEST, type FormValues } from '../form-body';
import { control, errorSummary, type FieldErrors } from '../form-controls';
import { html, type Html } from '../html';
import { CONSOLE_PATH, csrfInput } from '../layout';

export interface ExportFormOptions {
  /** null: a new export. */
  current: BatchExport | null;
  /** An edit form whose export could not be read (Redis down): its id, with `current` null. */
  editId?: string;
  type: string;
  /** What the user typed (after an error), or null to start from `current`. */
  values: FormValues | null;
  errors: FieldErrors;
  csrf: string;
}

/** Names of every control of the form, to place the API's errors. */
export function formFieldNames(type: string): string[] {
  return [
    'name',
    'team_id',
    'model',
    'interval',
    'timezone',
    'include_events',
    'exclude_events',
    'start_at',
    'end_at',
    'paused',
    ...destinationFields(type).map((f) => DEST + f.key),
  ];
}

export function fieldLabels(type: string): Map<string, string> {
  return new Map<string, string>([
    ['name', 'Name'],
    ['team_id', 'Team id'],
    ['model', 'Model'],
    ['interval', 'Interval'],
    ['timezone', 'Time zone'],
    ['include_events', 'Events to include'],
    ['exclude_events', 'Events to exclude'],
    ['start_at', 'Start at'],
    ['end_at', 'End at'],
    ['paused', 'Paused'],
    ...destinationFields(type).map((f): [string, string] => [DEST + f.key, f.label]),
  ]);
}

/** The values a form starts with: the export's, or empty for a new one. */
function initialValues(current: BatchExport | null, fields: DestinationField[]): FormValues {
  if (!current) {
    const values: FormValues = { timezone: 'UTC', interval: 'hour', model: 'events' };
    for (const f of fields) {
      if (!f.secret && f.default !== undefined && f.default !== null) values[DEST + f.key] = String(f.default);
    }
    return values;
  }
  const values: FormValues = {
    name: current.name,
    team_id: String(current.team_id),
    model: current.model,
    interval: current.interval,
    timezone: current.timezone,
    include_events: current.include_events.join('\n'),
    exclude_events: current.exclude_events.join('\n'),
    start_at: current.start_at ?? '',
    end_at: current.end_at ?? '',
  };
  const config = current.destination.config as Record<string, unknown>;
  for (const f of fields) {
    const v = config[f.key];
    if (!f.secret && v !== undefined && v !== null) values[DEST + f.key] = String(v);
  }
  return values;
}

export function exportForm(opts: ExportFormOptions): { title: string; heading?: Html; body: Html } {
  const { current, type, errors, csrf } = opts;
  const fields = destinationFields(type);
  const v = opts.values ?? initialValues(current, fields);
  const editId = current?.id ?? opts.editId ?? null;
  const editing = editId !== null;
  const action = editing ? `${CONSOLE_PATH}/${editId}/edit` : CONSOLE_PATH;
  const text = (name: string, label: string, extra: Partial<Parameters<typeof control>[0]> = {}) =>
    control({ name, label, kind: 'text', value: v[name] ?? '', ...extra }, errors);
  const select = (name: string, label: string, options: readonly string[], extra = {}) =>
    control(
      {
        name,
        label,
        kind: 'select',
        value: v[name] ?? '',
        options: options.map((o) => ({ value: o, text: o })),
        ...extra,
      },
      errors,
    );
  return {
    title: current ? `Edit ${current.name}` : editing ? 'Edit export' : 'New export',
    heading: current ? html`Edit <bdi>${current.name}</bdi>` : undefined,
    body: html` ${editing ? null : typeChooser(type)}
      <form method="post" action="${action}" novalidate class="export-form">
        ${csrfInput(csrf)}
        <input type="hidden" name="destination.type" value="${type}" />
        ${errorSummary(errors, fieldLabels(type))}
        <p class="muted">Fields marked * are required.</p>
        <fieldset>
          <legend>Export</legend>
          ${text('name', 'Name', { required: true })}
          ${editing ? null : text('team_id', 'Team id', { kind: 'number', required: true })}
          ${editing ? null : select('model', 'Model', modelNames())}
          ${select('interval', 'Interval', INTERVALS, { required: true })}
          ${text('timezone', 'Time zone', { hint: 'IANA name, e.g. UTC or Europe/Berlin; intervals align to it' })}
          ${eventFilters(current, editing, v, errors)}
          ${editing ? null : text('start_at', 'Start at', { hint: 'ISO 8601; in the past, the scheduler catches up from there. Empty: from now' })}
          ${text('end_at', 'End at', { hint: 'ISO 8601; no interval starting at or after it is scheduled. Empty: no end' })}
          ${editing ? null : control({ name: 'paused', label: 'Create paused', kind: 'checkbox', checked: v.paused === 'true' }, errors)}
        </fieldset>
        <fieldset>
          <legend>${type} destination</legend>
          ${fields.map((f) => destinationControl(f, v, errors, editing))}
        </fieldset>
        <button type="submit">${editing ? 'Save changes' : 'Create export'}</button>
        ${editing ? html`<a href="${CONSOLE_PATH}/${editId}">Cancel</a>` : null}
      </form>`,
  };
}

/** Models that take event filters; one this version does not know shows its filters as stored. */
const takesEventFilters = (model: string) => MODEL_CHOICES.find((m) => m.name === model)?.eventFilters ?? true;

/**
 * The event filters, only for models that take them (persons does not: the
 * API refuses them). A new export's form has them for every model, hidden
 * and disabled (not sent) while another is chosen; console.js shows them as
 * the model changes. An edit form has them only if its export's model does
 * (or, the export unread, if the form sent back had them).
 */
function eventFilters(current: BatchExport | null, editing: boolean, v: FormValues, errors: FieldErrors): Html | null {
  const model = current?.model ?? v.model ?? '';
  const refused = errors.has('include_events') || errors.has('exclude_events');
  const sent = v.include_events !== undefined || v.exclude_events !== undefined;
  const shown = (current || !editing ? takesEventFilters(model) : sent) || refused;
  if (editing && !shown) return null;
  const models = MODEL_CHOICES.filter((m) => m.eventFilters).map((m) => m.name);
  return html`<fieldset
    class="event-filters"
    data-filter-models="${models.join(' ')}"
    ${shown ? '' : html` hidden disabled`}
  >
    <legend>Event filters${editing ? '' : html` <span class="muted">(model ${models.join(', ')} only)</span>`}</legend>
    ${control({ name: 'include_events', label: 'Events to include', kind: 'textarea', value: v.include_events ?? '', hint: 'One event name per line; empty for every event' }, errors)}
    ${control({ name: 'exclude_events', label: 'Events to exclude', kind: 'textarea', value: v.exclude_events ?? '', hint: 'One event name per line' }, errors)}
  </fieldset>`;
}

function typeChooser(current: string): Html {
  return html`<nav aria-label="Destination type" class="type-chooser">
    <p>Destination type:</p>
    <ul>
      ${destinationTypes().map(
        (t) =>
          html`<li>
            <a
              href="${CONSOLE_PATH}/new?type=${encodeURIComponent(t)}"
              ${t === current ? html` aria-current="page"` : ''}
              >${t}</a
            >
          </li>`,
      )}
    </ul>
  </nav>`;
}

function destinationControl(f: DestinationField, v: FormValues, errors: FieldErrors, editing: boolean): Html {
  const name = DEST + f.key;
  const options =
    f.kind === 'select'
      ? [
          ...(f.nullable || !f.required
            ? [
                {
                  value: '',
                  text: f.default === undefined || f.default === null ? 'none' : `default (${String(f.default)})`,
                },
              ]
            : []),
          ...(f.options ?? []).map((o) => ({ value: o, text: o })),
        ]
      : undefined;
  const secretHint = editing
    ? 'Write-only: never shown. Leave empty to keep the current value.'
    : 'Write-only: never shown again.';
  return control(
    {
      name,
      label: f.label,
      kind: f.kind,
      // Secrets are never put back into a page, not even the one that was just typed.
      value: f.secret ? '' : (v[name] ?? ''),
      checked: v[name] === 'true',
      options,
      required: f.required && !(f.secret && editing),
      hint: f.secret ? secretHint : f.hint,
      autocomplete: f.secret ? 'new-password' : 'off',
    },
    errors,
  );
}
