import { html, type Html } from './html';

/** Messages per form field name (the API's field paths, e.g. `destination.config.bucket_name`). */
export type FieldErrors = Map<string, string[]>;

export interface ErrorDetail {
  field: string;
  message: string;
}

/**
 * Places each of the API's error details at the form field it names: the
 * field itself or, for paths below it (`include_events.2`), the nearest field
 * above. Details that name no field of the form go under '' (the summary).
 */
export function placeErrors(details: readonly ErrorDetail[], fields: readonly string[]): FieldErrors {
  const out: FieldErrors = new Map();
  for (const d of details) {
    // PATCH names destination fields from the destination down (`config.region`).
    const path = d.field.startsWith('config.') && !fields.includes(d.field) ? `destination.${d.field}` : d.field;
    const parts = path.split('.');
    let target = '';
    for (let n = parts.length; n > 0 && !target; n--) {
      const candidate = parts.slice(0, n).join('.');
      if (fields.includes(candidate)) target = candidate;
    }
    const message = target && target !== path ? `${path.slice(target.length + 1)}: ${d.message}` : d.message;
    out.set(target, [...(out.get(target) ?? []), message]);
  }
  return out;
}

export function fieldId(name: string): string {
  return `f-${name.replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

/** The list of every problem at the top of a form, each linked to its field. */
export function errorSummary(
  errors: FieldErrors,
  labels: ReadonlyMap<string, string>,
  /** What did not happen, as the summary's heading. */
  title = 'The export was not saved',
): Html | null {
  if (errors.size === 0) return null;
  const items = [...errors].flatMap(([name, messages]) =>
    messages.map((m) =>
      name ? html`<li><a href="#${fieldId(name)}">${labels.get(name) ?? name}: ${m}</a></li>` : html`<li>${m}</li>`,
    ),
  );
  return html`<div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1">
    <h2 id="error-summary-title">${title}</h2>
    <ul>
      ${items}
    </ul>
  </div>`;
}

export interface ControlSpec {
  name: string;
  label: string;
  kind: 'text' | 'number' | 'password' | 'textarea' | 'select' | 'checkbox' | 'url';
  value?: string;
  checked?: boolean;
  options?: ReadonlyArray<{ value: string; text: string }>;
  hint?: string;
  required?: boolean;
  autocomplete?: string;
}

/** A labelled control with its hint and its errors, tied together for screen readers. */
export function control(spec: ControlSpec, errors: FieldErrors): Html {
  const id = fieldId(spec.name);
  const messages = errors.get(spec.name) ?? [];
  const describedBy = [spec.hint ? `${id}-hint` : '', messages.length ? `${id}-error` : ''].filter(Boolean).join(' ');
  const common = html` id="${id}"
  name="${spec.name}"${describedBy ? html` aria-describedby="${describedBy}"` : ''}${
    messages.length ? html` aria-invalid="true"` : ''
  }${spec.required ? html` aria-required="true"` : ''}`;
  let input: Html;
  switch (spec.kind) {
    case 'textarea':
      input = html`<textarea${common} rows="3">${spec.value ?? ''}</textarea>`;
      break;
    case 'select':
      input = html`<select${common}>${(spec.options ?? []).map(
        (o) =>
          html`<option value="${o.value}" ${o.value === (spec.value ?? '') ? html` selected` : ''}>${o.text}</option>`,
      )}</select>`;
      break;
    case 'checkbox':
      input = html`<input type="checkbox" value="true" ${common}${spec.checked ? html` checked` : ''} />`;
      break;
    default:
      input = html`<input
        type="${spec.kind === 'number' ? 'text' : spec.kind}"
        ${spec.kind === 'number' ? html` inputmode="decimal"` : ''}${common}
        value="${spec.value ?? ''}"
        ${spec.autocomplete ? html` autocomplete="${spec.autocomplete}"` : ''}
      />`;
  }
  const label = html`<label for="${id}"
    >${spec.label}${spec.required ? html`<span class="req" aria-hidden="true"> *</span>` : ''}</label
  >`;
  return html`<div class="field${messages.length ? ' has-error' : ''}${spec.kind === 'checkbox' ? ' check' : ''}">
    ${spec.kind === 'checkbox' ? html`${input} ${label}` : html`${label} ${input}`}
    ${spec.hint ? html`<p class="hint" id="${id}-hint">${spec.hint}</p>` : null}
    ${
      messages.length
        ? html`<p class="field-error" id="${id}-error">${messages.map((m) => html`<span>Error: ${m}</span> `)}</p>`
        : null
    }
  </div>`;
}
