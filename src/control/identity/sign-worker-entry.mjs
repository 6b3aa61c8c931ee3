// Entry of a signing worker when weft runs from its TypeScript sources: register tsx in this thread,
// then load the worker module (compiled builds start dist/…/sign-worker.js directly).
import { register } from 'tsx/esm/api';

register();
await import('./sign-worker.ts');
