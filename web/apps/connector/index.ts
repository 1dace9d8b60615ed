/**
 * `/sdk/cti-connector.js`: the global `Cti` of VoIPstudio's connector, on Callboard.
 *
 *     <script src="https://pbx.example.com/sdk/cti-connector.js"></script>
 *     <script>
 *       const connector = new Cti.Connector({ onMessage: (event) => console.log(event.name) });
 *       connector.login('alice@example.com', 'secret');
 *     </script>
 *
 * The server defaults to the origin this script was loaded from (`apiEndpoint` to
 * choose another). See connector.ts for what differs from upstream, and why.
 */
import { Connector as Base, type ConnectorOptions } from './connector';

export { CALL_CODE, CALL_STATUS, DIRECTION, EVENT, TYPE } from './constants';
export type { CtiCall, CtiEvent, InitialCall } from './mapping';
export type { ConnectorOptions } from './connector';

const script = typeof document !== 'undefined' ? (document.currentScript as HTMLScriptElement | null) : null;
const scriptOrigin = script?.src ? new URL(script.src, location.href).origin : '';

/** `new Cti.Connector({onMessage, apiEndpoint?})` */
export class Connector extends Base {
  constructor(options: ConnectorOptions) {
    super(options, scriptOrigin);
  }
}

/** Upstream's console helper. */
export function log(message: unknown): void {
  console.info(`Cti: ${typeof message === 'string' ? message : JSON.stringify(message)}`);
}
