/** The web studio (`lepton/studio`): runs, comparisons, the model registry and playgrounds, on the model server. */
export { createStudio, type StudioOptions } from './server.js';
