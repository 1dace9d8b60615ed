/**
 * The one error shape of the Callboard server (`{id, status, detail, code}`), as a JS error.
 *
 * Every promise of the SDK rejects with a `CallboardError`: the server's own errors keep
 * their id (e.g. `app.call.not_found`); the SDK's begin with `sdk.` (e.g. `sdk.not_connected`).
 */

/** The server's JSON error. */
export interface ErrorShape {
  id: string;
  status: string;
  detail: string;
  code: number;
}

export class CallboardError extends Error implements ErrorShape {
  readonly id: string;
  readonly status: string;
  readonly detail: string;
  readonly code: number;

  constructor(shape: ErrorShape) {
    super(shape.detail || shape.id);
    this.name = 'CallboardError';
    this.id = shape.id;
    this.status = shape.status;
    this.detail = shape.detail;
    this.code = shape.code;
  }

  /** An error of the SDK itself. */
  static sdk(id: string, detail: string, code = 400): CallboardError {
    return new CallboardError({ id: `sdk.${id}`, status: STATUS[code] ?? 'Error', detail, code });
  }

  /** The server's error object (or anything thrown), as a CallboardError. */
  static from(value: unknown, fallbackId = 'sdk.error'): CallboardError {
    if (value instanceof CallboardError) return value;
    if (isShape(value)) return new CallboardError(value);
    const detail = value instanceof Error ? value.message : String(value ?? 'unknown error');
    return new CallboardError({ id: fallbackId, status: 'Error', detail, code: 500 });
  }

  toJSON(): ErrorShape {
    return { id: this.id, status: this.status, detail: this.detail, code: this.code };
  }
}

function isShape(value: unknown): value is ErrorShape {
  if (typeof value !== 'object' || value === null) return false;
  const shape = value as Record<string, unknown>;
  return typeof shape.id === 'string' && typeof shape.code === 'number';
}

const STATUS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
