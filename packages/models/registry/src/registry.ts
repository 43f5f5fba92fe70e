import { PermanentError, type ModelChoice, type ModelPlugin } from '@bx/core';
import { eventsModel } from '@bx/model-events';
import { personsModel } from '@bx/model-persons';

/**
 * Every model, the default (events) first. Adding one is a package under
 * packages/models/ that exports a ModelPlugin, and one line here.
 */
export const MODEL_PLUGINS: readonly [ModelPlugin, ...ModelPlugin[]] = [eventsModel, personsModel];

const byName = new Map(MODEL_PLUGINS.map((model) => [model.name, model]));

/** The models as the export schemas see them (names, event filters), the default first. */
export const MODEL_CHOICES = MODEL_PLUGINS.map((m) => ({ name: m.name, eventFilters: m.eventFilters })) as [
  ModelChoice,
  ...ModelChoice[],
];

/** The `model` values, the default first. */
export const MODEL_NAMES = MODEL_CHOICES.map((m) => m.name) as [string, ...string[]];

/** The plug-in of a model; a name no plug-in has (an export stored by a newer version) is permanent. */
export function modelPlugin(name: string): ModelPlugin {
  const model = byName.get(name);
  if (!model) throw new PermanentError(`model ${name} is not available`, { code: 'UnsupportedModel' });
  return model;
}
