// Errors raised by the Gateway API conformance harness, each a WeftError with a stable code.
import { WeftError, type WeftErrorOptions } from '../../src/core/errors.ts';

/** The corpus on disk is missing, unreadable, or not in the shape its README describes. */
export class CorpusError extends WeftError {
  constructor(message: string, options: WeftErrorOptions = {}) {
    super('CONFORMANCE_CORPUS_INVALID', message, options);
  }
}

/** A test asks for something the harness cannot set up (unknown backend server kind, missing pod…). */
export class HarnessSetupError extends WeftError {
  constructor(message: string, options: WeftErrorOptions = {}) {
    super('CONFORMANCE_SETUP_FAILED', message, options);
  }
}

/** The system under test cannot do what was asked (e.g. weft has no Gateway listeners yet). */
export class SutNotSupportedError extends WeftError {
  constructor(message: string, options: WeftErrorOptions = {}) {
    super('CONFORMANCE_SUT_UNSUPPORTED', message, options);
  }
}

/** A conformance client could not complete an exchange (connection refused, reset, timeout, bad reply). */
export class ConformanceClientError extends WeftError {
  constructor(message: string, options: WeftErrorOptions = {}) {
    super('CONFORMANCE_CLIENT_FAILED', message, options);
  }
}

/** A command-line argument of the conformance runner is wrong. */
export class RunnerUsageError extends WeftError {
  constructor(message: string, options: WeftErrorOptions = {}) {
    super('CONFORMANCE_USAGE', message, options);
  }
}
